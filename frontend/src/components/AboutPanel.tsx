import { PLAIN_WORDS } from "../api/errors";
import { useModels } from "../api/models";
import type { Canary } from "../api/types";
import { ModelCardView } from "./ModelCardView";

/** A version being tried in the default's shadow: visitors still get the default's answers. */
function CanaryLine({ canary }: { canary: Canary }) {
  const f = canary.figures;
  const agreement =
    f && f.agreement != null
      ? `it agrees with the served version on ${(f.agreement * 100).toFixed(1)}% of ${f.comparisons} images so far`
      : "no comparison yet";
  return (
    <p data-testid="canary">
      Version <span className="text-parchment">{canary.version}</span> is being tried on{" "}
      {(canary.share * 100).toFixed(0)}% of new images, behind the scenes: {agreement}.
    </p>
  );
}

/** What the served model is and what it learned from (the page's one models view). */
export function AboutPanel() {
  const { view, error } = useModels();
  if (!view && error) return <p className="text-sm text-ember">{PLAIN_WORDS[error.kind]}</p>;
  if (!view) return <p className="text-sm text-moon">Reading the model's provenance…</p>;
  const served = view.models[0];
  const p = view.provenance;
  return (
    <div className="space-y-3 text-sm text-moon" data-testid="about">
      <p>
        A <span className="text-parchment">{view.arch ?? "neural network"}</span> image classifier
        {served && (
          <>
            {" "}
            served as <span className="text-parchment">{served.name}</span> version{" "}
            <span className="text-parchment">{served.default_version}</span>
          </>
        )}
        , fine-tuned from ImageNet weights.
      </p>
      {p && Object.keys(p).length > 0 && (
        <p>
          Trained on {p.images ?? "?"} images ({String(p.data_root ?? "unknown source")}) for {p.epochs ?? "?"} epochs;
          test macro-F1 {typeof p.test_macro_f1 === "number" ? p.test_macro_f1.toFixed(3) : "n/a"}.
        </p>
      )}
      {view.unknown_threshold != null && (
        <p>Below {(view.unknown_threshold * 100).toFixed(0)}% confidence it answers “Not recognised”.</p>
      )}
      <p>It knows: {view.labels.map((l) => l.name).join(", ")}.</p>
      {served?.canary && <CanaryLine canary={served.canary} />}
      {view.model_card && <ModelCardView card={view.model_card} />}
    </div>
  );
}
