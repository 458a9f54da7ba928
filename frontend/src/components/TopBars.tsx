import type { Ranked } from "../api/types";

/** The top-k games as bars with names and percentages. */
export function TopBars({ ranked }: { ranked: Ranked[] }) {
  return (
    <ol className="space-y-2" aria-label="Most likely games">
      {ranked.map((entry, index) => {
        const percent = Math.round(entry.probability * 1000) / 10;
        return (
          <li key={entry.label}>
            <div className="flex justify-between text-sm">
              <span className={index === 0 ? "text-parchment" : "text-moon"}>{entry.name}</span>
              <span className="tabular-nums text-moon">{percent.toFixed(1)}%</span>
            </div>
            <div
              className="mt-1 h-2 rounded bg-ash"
              role="meter"
              aria-label={`${entry.name} probability`}
              aria-valuemin={0}
              aria-valuemax={100}
              aria-valuenow={percent}
            >
              <div
                className={`h-2 rounded ${index === 0 ? "bg-gradient-to-r from-blood to-gaslamp" : "bg-moon/50"}`}
                style={{ width: `${Math.max(percent, 0.5)}%` }}
              />
            </div>
          </li>
        );
      })}
    </ol>
  );
}
