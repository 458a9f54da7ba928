import { useEffect, useState } from "react";
import { sharedAnswer } from "../api/client";
import { ApiError, asApiError } from "../api/errors";
import type { SharedAnswer } from "../api/types";
import type { SentFeedback } from "../lib/feedback";
import type { HistoryEntry } from "../lib/history";
import { shareLink } from "../lib/share";
import { ErrorNotice } from "./ErrorNotice";
import { Feedback } from "./Feedback";
import { ShareButtons } from "./ShareButtons";
import { Verdict } from "./Verdict";

const card = "mx-auto max-w-md overflow-hidden rounded-lg border border-ash bg-crypt/80 shadow-lg shadow-black/40";
const home = (
  <a href="/" className="inline-block text-sm text-gaslamp hover:underline">
    Classify a screenshot of your own
  </a>
);

interface Props {
  id: string;
  history: HistoryEntry[];
  /** Told each vote the sharer sends from here, for the history (by the image's SHA-256). */
  onFeedback?: (sha256: string, sent: SentFeedback) => void;
}

/** The page at /s/<id>: the answer someone shared, until the cached answer it copies expires. The image
 * itself was never stored: the sharer's own history may still hold its thumbnail. "Was this right?" is
 * for whoever holds the screenshot: the sharer, whose history knows the image (they pick the file
 * again, as the vote goes with it); anyone else is told why there is nothing to press. */
export function SharedResult({ id, history, onFeedback }: Props) {
  const [state, setState] = useState<{ answer: SharedAnswer | null; error: ApiError | null }>({
    answer: null,
    error: null,
  });
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    let live = true;
    sharedAnswer(id).then(
      (answer) => live && setState({ answer, error: null }),
      (error: unknown) => live && setState({ answer: null, error: asApiError(error) }),
    );
    return () => {
      live = false;
    };
  }, [id, attempt]);
  const mine = history.find((entry) => entry.share === id);
  const picture = mine?.thumbnail;
  const gone = state.error?.status === 404;
  const { answer } = state;
  return (
    <article className={card}>
      {picture && <img src={picture} alt="Your thumbnail of this screenshot" className="aspect-video w-full object-cover" />}
      <div className="space-y-3 p-4">
        <p className="text-xs text-moon">
          Shared result
          {answer && ` · kept until ${new Date(answer.expires_at).toLocaleString()}`}
        </p>
        {!answer && !state.error && <p className="text-sm text-moon">Reading the answer…</p>}
        {answer && (
          <Verdict
            result={answer}
            share={<ShareButtons answer={answer} link={shareLink(`/s/${id}`)} />}
            feedback={
              mine ? (
                <Feedback
                  answer={answer}
                  sha256={mine.sha256}
                  file={null}
                  sent={mine.feedback}
                  onSent={(sent) => onFeedback?.(mine.sha256, sent)}
                />
              ) : (
                <p className="border-t border-ash/60 pt-3 text-xs text-moon" data-testid="feedback-needs-file">
                  Whoever holds the screenshot can say whether this answer was right: classify it yourself to
                  send feedback.
                </p>
              )
            }
          />
        )}
        {gone && (
          <p role="alert" className="text-sm text-ember" data-testid="shared-gone">
            This answer is no longer kept. Shared answers last as long as the answer is cached (a day at
            most) and images are never kept: classify the screenshot again.
          </p>
        )}
        {state.error && !gone && <ErrorNotice error={state.error} onRetry={() => setAttempt((n) => n + 1)} />}
        {home}
      </div>
    </article>
  );
}

/** The page at /r/<sha256>, a share link of the older kind: it named the image's hash, which let anyone
 * holding an image look up its answer. Such links are retired and show nothing. */
export function RetiredLink() {
  return (
    <article className={card}>
      <div className="space-y-3 p-4">
        <p role="alert" className="text-sm text-ember" data-testid="retired-link">
          This is a share link of an older kind, which is no longer served. Ask whoever sent it for a new
          link.
        </p>
        {home}
      </div>
    </article>
  );
}
