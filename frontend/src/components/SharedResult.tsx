import { useEffect, useState } from "react";
import { sharedResult } from "../api/client";
import { ApiError, asApiError } from "../api/errors";
import type { Classification } from "../api/types";
import type { HistoryEntry } from "../lib/history";
import { ErrorNotice } from "./ErrorNotice";
import { Verdict } from "./Verdict";

/** The page at /r/<sha256>: the answer the gateway's cache holds for that image. The image itself was
 * never stored: the visitor's own history may still hold its thumbnail. */
export function SharedResult({ sha256, history }: { sha256: string; history: HistoryEntry[] }) {
  const [state, setState] = useState<{ result: Classification | null; error: ApiError | null }>({
    result: null,
    error: null,
  });
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    let live = true;
    sharedResult(sha256).then(
      (result) => live && setState({ result, error: null }),
      (error: unknown) => live && setState({ result: null, error: asApiError(error) }),
    );
    return () => {
      live = false;
    };
  }, [sha256, attempt]);
  const picture = history.find((entry) => entry.sha256 === sha256)?.thumbnail;
  const gone = state.error?.status === 404;
  return (
    <article className="mx-auto max-w-md overflow-hidden rounded-lg border border-ash bg-crypt/80 shadow-lg shadow-black/40">
      {picture && <img src={picture} alt="Your thumbnail of this screenshot" className="aspect-video w-full object-cover" />}
      <div className="space-y-3 p-4">
        <p className="text-xs text-moon">
          Shared result · <code className="break-all">{sha256.slice(0, 16)}…</code>
        </p>
        {!state.result && !state.error && <p className="text-sm text-moon">Reading the answer…</p>}
        {state.result && <Verdict result={state.result} />}
        {gone && (
          <p role="alert" className="text-sm text-ember" data-testid="shared-gone">
            This answer is no longer kept. Answers are kept for a day and images never are: classify the
            screenshot again.
          </p>
        )}
        {state.error && !gone && (
          <ErrorNotice error={state.error} onRetry={() => setAttempt((n) => n + 1)} />
        )}
        <a href="/" className="inline-block text-sm text-gaslamp hover:underline">
          Classify a screenshot of your own
        </a>
      </div>
    </article>
  );
}
