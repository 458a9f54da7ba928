import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { classify, createShare, explain } from "../api/client";
import { ApiError, asApiError } from "../api/errors";
import type { Classification, Explanation, ShareCreated } from "../api/types";
import type { Submit } from "../lib/batches";
import type { SentFeedback } from "../lib/feedback";
import { shareLink } from "../lib/share";
import { ErrorNotice } from "./ErrorNotice";
import { Feedback } from "./Feedback";
import { Heatmap } from "./Heatmap";
import { ShareButtons } from "./ShareButtons";
import { Verdict } from "./Verdict";

type State =
  | { step: "rejected"; message: string }
  | { step: "uploading"; progress: number }
  | { step: "done"; result: Classification }
  | { step: "failed"; error: ApiError };

interface Props {
  file: File;
  /** Why the page refused the file before any upload (lib/validate), if it did. */
  rejection?: string | null;
  /** Its answer, from the request it was sent in (lib/batches); alone to /classify when not given. */
  submit?: Submit;
  /** Told each answer, for the history. */
  onResult?: (result: Classification) => void;
  /** Told each share link made of an answer, for the history. */
  onShared?: (result: Classification, share: ShareCreated) => void;
  /** Told each vote sent on an answer, for the history. */
  onFeedback?: (result: Classification, sent: SentFeedback) => void;
}

/** One screenshot in the queue: its preview, upload progress, and the verdict or what went wrong, then
 * "was this right?" (it holds the file the vote goes with). A retry sends the file alone. */
export function ShotCard({ file, rejection = null, submit, onResult, onShared, onFeedback }: Props) {
  const [state, setState] = useState<State>(
    rejection ? { step: "rejected", message: rejection } : { step: "uploading", progress: 0 },
  );
  const [heatmap, setHeatmap] = useState<Explanation | null>(null);
  const [showHeatmap, setShowHeatmap] = useState(false);
  const [heatmapError, setHeatmapError] = useState<ApiError | null>(null);
  const preview = useMemo(() => (rejection ? null : URL.createObjectURL(file)), [file, rejection]);
  useEffect(() => () => void (preview && URL.revokeObjectURL(preview)), [preview]);

  const [attempt, setAttempt] = useState(0);
  const told = useRef(onResult);
  useEffect(() => {
    told.current = onResult;
  });
  // The share is made of what the card shows: its games, from the file itself (lib/share).
  const share = (result: Classification) => () =>
    createShare(file, result.top_k.length).then((made) => {
      onShared?.(result, made);
      return shareLink(made.url);
    });
  const alone = useCallback<Submit>((onProgress) => classify(file, 3, onProgress), [file]);
  const send = useCallback((how: Submit) => {
    how((progress) => setState({ step: "uploading", progress }))
      .then((result) => {
        setState({ step: "done", result });
        told.current?.(result);
      })
      .catch((error: unknown) => setState({ step: "failed", error: asApiError(error) }));
  }, []);
  useEffect(() => {
    if (!rejection) send(submit ?? alone);
  }, [rejection, send, submit, alone]);
  const retry = () => {
    setState({ step: "uploading", progress: 0 });
    setAttempt((n) => n + 1);
    send(alone);
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
            heatmap={{ shown: showHeatmap, onToggle: toggleHeatmap, error: heatmapError }}
            share={<ShareButtons answer={state.result} create={share(state.result)} />}
            feedback={
              <Feedback
                key={state.result.sha256}
                answer={state.result}
                sha256={state.result.sha256}
                file={file}
                onSent={(sent) => onFeedback?.(state.result, sent)}
              />
            }
          />
        )}
      </div>
    </article>
  );
}
