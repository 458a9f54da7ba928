import { useCallback, useEffect, useMemo, useState } from "react";
import { classify, explain } from "../api/client";
import { ApiError, asApiError } from "../api/errors";
import { trainedOnSynthetic, useModels } from "../api/models";
import type { Classification, Explanation } from "../api/types";
import { checkFile } from "../lib/validate";
import { ErrorNotice } from "./ErrorNotice";
import { Heatmap } from "./Heatmap";
import { SYNTHETIC_WHY } from "./SyntheticNotice";
import { TopBars } from "./TopBars";

type State =
  | { step: "rejected"; message: string }
  | { step: "uploading"; progress: number }
  | { step: "done"; result: Classification }
  | { step: "failed"; error: ApiError };

/** One screenshot in the queue: its preview, upload progress, and the verdict or what went wrong. */
export function ShotCard({ file }: { file: File }) {
  const { view } = useModels();
  // Judged once, when the card appears, against the limit the stack announced (MAX_UPLOAD_BYTES).
  const [rejection] = useState(() => checkFile(file, view?.max_upload_bytes ?? null));
  const [state, setState] = useState<State>(
    rejection ? { step: "rejected", message: rejection } : { step: "uploading", progress: 0 },
  );
  const [heatmap, setHeatmap] = useState<Explanation | null>(null);
  const [showHeatmap, setShowHeatmap] = useState(false);
  const [heatmapError, setHeatmapError] = useState<ApiError | null>(null);
  const preview = useMemo(() => (rejection ? null : URL.createObjectURL(file)), [file, rejection]);
  useEffect(() => () => void (preview && URL.revokeObjectURL(preview)), [preview]);

  const [attempt, setAttempt] = useState(0);
  const send = useCallback(() => {
    classify(file, 3, (progress) => setState({ step: "uploading", progress }))
      .then((result) => setState({ step: "done", result }))
      .catch((error: unknown) => setState({ step: "failed", error: asApiError(error) }));
  }, [file]);
  useEffect(() => {
    if (!rejection) send();
  }, [rejection, send]);
  const retry = () => {
    setState({ step: "uploading", progress: 0 });
    setAttempt((n) => n + 1);
    send();
  };

  const toggleHeatmap = () => {
    const next = !showHeatmap;
    setShowHeatmap(next);
    if (next && !heatmap) {
      setHeatmapError(null);
      explain(file)
        .then(setHeatmap)
        .catch((error: unknown) => setHeatmapError(asApiError(error)));
    }
  };

  return (
    <article className="overflow-hidden rounded-lg border border-ash bg-crypt/80 shadow-lg shadow-black/40">
      <div className="relative aspect-video bg-abyss">
        {preview && (
          <img
            src={preview}
            alt={`Preview of ${file.name}`}
            className="h-full w-full object-cover"
            onError={(event) => (event.currentTarget.style.visibility = "hidden")}
          />
        )}
        {showHeatmap && heatmap && <Heatmap grid={heatmap.heatmap} />}
      </div>
      <div className="space-y-3 p-4">
        <p className="truncate text-xs text-moon" title={file.name}>
          {file.name}
        </p>
        {state.step === "rejected" && (
          <p role="alert" className="text-sm text-ember">
            {state.message}
          </p>
        )}
        {state.step === "uploading" && (
          <div>
            <p className="text-sm text-moon">{state.progress < 1 ? "Uploading…" : "Consulting the model…"}</p>
            <progress className="mt-1 w-full accent-gaslamp" max={1} value={state.progress} aria-label="Upload progress" />
          </div>
        )}
        {state.step === "failed" && <ErrorNotice key={attempt} error={state.error} onRetry={retry} />}
        {state.step === "done" && (
          <Verdict
            result={state.result}
            heatmapShown={showHeatmap}
            onToggleHeatmap={toggleHeatmap}
            heatmapError={heatmapError}
          />
        )}
      </div>
    </article>
  );
}

function Verdict(props: {
  result: Classification;
  heatmapShown: boolean;
  onToggleHeatmap: () => void;
  heatmapError: ApiError | null;
}) {
  const { result } = props;
  const known = result.label !== "unknown";
  const { view } = useModels();
  const latency = result.timings_ms.total;
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
        <label className="flex cursor-pointer items-center gap-2">
          <input type="checkbox" checked={props.heatmapShown} onChange={props.onToggleHeatmap} className="accent-blood" />
          Where the model looked
        </label>
      </div>
      {props.heatmapError && <ErrorNotice error={props.heatmapError} onRetry={props.onToggleHeatmap} />}
    </div>
  );
}
