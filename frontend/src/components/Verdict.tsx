import type { ReactNode } from "react";
import { ApiError } from "../api/errors";
import { trainedOnSynthetic, useModels } from "../api/models";
import type { Answer, Classification } from "../api/types";
import { ErrorNotice } from "./ErrorNotice";
import { SYNTHETIC_WHY } from "./SyntheticNotice";
import { TopBars } from "./TopBars";

/** Where the model looked, for a card that still has its file (a shared result has none). */
export interface HeatmapControls {
  shown: boolean;
  onToggle: () => void;
  error: ApiError | null;
}

interface Props {
  /** A card's classification, or a shared answer (which has no cache flag or timings). */
  result: Answer & Partial<Pick<Classification, "cached" | "timings_ms">>;
  heatmap?: HeatmapControls;
  /** Its share buttons (components/ShareButtons). */
  share: ReactNode;
  /** "Was this right?" (components/Feedback), or why it cannot be asked here. */
  feedback?: ReactNode;
}

/** A classification as a card shows it: the verdict and its confidence, the top games, the model, its
 * share link and the visitor's feedback on it. */
export function Verdict({ result, heatmap, share, feedback }: Props) {
  const known = result.label !== "unknown";
  const { view } = useModels();
  const latency = result.timings_ms?.total;
  return (
    <div className="space-y-3">
      <div className="flex items-start justify-between gap-2">
        <h3 className="font-display text-xl text-gaslamp" data-testid="verdict">
          {known ? result.name : "Not recognised"}
        </h3>
        {result.cached && (
          <span className="rounded-full border border-moon/50 px-2 py-0.5 text-xs text-moon" data-testid="cached">
            from cache
          </span>
        )}
      </div>
      <p className="text-sm text-moon">
        {known
          ? `${(result.confidence * 100).toFixed(1)}% confident`
          : `Not sure enough to name a game (best guess ${(result.confidence * 100).toFixed(1)}%).`}
      </p>
      {!known && trainedOnSynthetic(view) && (
        <p className="text-sm text-gaslamp" data-testid="why-not-recognised">
          {SYNTHETIC_WHY}
        </p>
      )}
      <TopBars ranked={result.top_k} />
      <div className="flex flex-wrap items-center justify-between gap-2 text-xs text-moon">
        <span>
          {result.model.name} v{result.model.version}
          {latency !== undefined && ` · ${latency.toFixed(0)} ms`}
        </span>
        {heatmap && (
          <label className="flex cursor-pointer items-center gap-2">
            <input type="checkbox" checked={heatmap.shown} onChange={heatmap.onToggle} className="accent-blood" />
            Where the model looked
          </label>
        )}
      </div>
      {share}
      {heatmap?.error && <ErrorNotice error={heatmap.error} onRetry={heatmap.onToggle} />}
      {feedback}
    </div>
  );
}
