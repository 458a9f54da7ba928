import type { CardFigures, ModelCard } from "../api/types";

const percent = (value: number) => `${(value * 100).toFixed(1)}%`;

function FramingRows({ figures }: { figures: Record<string, CardFigures> }) {
  return (
    <table className="mt-2 w-full text-left text-xs">
      <thead>
        <tr className="text-moon/80">
          <th className="font-normal">framing, borders</th>
          <th className="font-normal">accuracy</th>
          <th className="font-normal">Not recognised</th>
        </tr>
      </thead>
      <tbody>
        {Object.entries(figures).map(([framing, f]) => (
          <tr key={framing}>
            <td>{framing}</td>
            <td>{percent(f.accuracy)}</td>
            <td>{percent(f.not_recognised_rate)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The served model's card (training.model_card): what it is for, how it did class by class, where
 * "Not recognised" starts, how it did on screenshots from outside its data, and what it cannot do. */
export function ModelCardView({ card }: { card: ModelCard }) {
  const { test, unknown, external } = card;
  return (
    <div className="space-y-3" data-testid="model-card">
      <h3 className="font-display text-lg text-parchment">
        Model card: {card.name} {card.version}
      </h3>
      <p>{card.intended_use}</p>
      <p>
        Test split ({test.images} images, {card.data.kind ?? "unknown"} data): accuracy {percent(test.accuracy)}, macro-F1{" "}
        {test.macro_f1.toFixed(3)}. Under {percent(unknown.threshold)} calibrated confidence it answers “Not
        recognised”; {percent(unknown.coverage)} of test images are answered above it.
      </p>
      <table className="w-full text-left text-xs">
        <thead>
          <tr className="text-moon/80">
            <th className="font-normal">game</th>
            <th className="font-normal">precision</th>
            <th className="font-normal">recall</th>
            <th className="font-normal">F1</th>
            <th className="font-normal">test images</th>
          </tr>
        </thead>
        <tbody>
          {Object.entries(test.per_class).map(([label, c]) => (
            <tr key={label}>
              <td>{c.name}</td>
              <td>{c.precision.toFixed(3)}</td>
              <td>{c.recall.toFixed(3)}</td>
              <td>{c.f1.toFixed(3)}</td>
              <td>{c.support}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {external ? (
        <div>
          <p>
            On {external.images} screenshots from outside its data ({external.set}): named the right game for{" "}
            {percent(external.named_correctly)}, “Not recognised” for {percent(external.not_recognised_rate)}.
          </p>
          {external.borders && <FramingRows figures={external.borders.figures} />}
        </div>
      ) : (
        <p>Not measured on screenshots from outside its data.</p>
      )}
      <ul className="list-disc space-y-1 pl-5" aria-label="Limitations">
        {card.limitations.map((item) => (
          <li key={item}>{item}</li>
        ))}
      </ul>
    </div>
  );
}
