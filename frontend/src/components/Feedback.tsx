import { useId, useState } from "react";
import { sendFeedback } from "../api/client";
import { ApiError, asApiError } from "../api/errors";
import { useModels } from "../api/models";
import type { Answer, FeedbackVote } from "../api/types";
import { remembered, said, type SentFeedback } from "../lib/feedback";
import { ErrorNotice } from "./ErrorNotice";

interface Props {
  answer: Answer;
  /** The image's SHA-256, which the gateway checks the file against. */
  sha256: string;
  /** The screenshot the answer is for; null where the page holds none (a share's page asks for it). */
  file: File | null;
  /** What this browser sent before about this image (its history), if anything. */
  sent?: SentFeedback | null;
  onSent?: (sent: SentFeedback) => void;
}

type State =
  | { step: "asking" }
  | { step: "sending"; vote: FeedbackVote }
  | { step: "sent"; sent: SentFeedback; news: "new" | "updated" | null }
  | { step: "failed"; vote: FeedbackVote; error: ApiError };

const button =
  "rounded border border-ash px-2 py-0.5 text-xs text-moon hover:border-gaslamp hover:text-gaslamp disabled:opacity-40";

function thanks(sent: SentFeedback, news: "new" | "updated" | null): string {
  const lead = { new: "Thank you: you said", updated: "Updated: you now say", none: "You said" }[news ?? "none"];
  return `${lead} ${said(sent)}.${sent.shared ? " You shared the screenshot to improve the model." : ""}`;
}

/** "Was this right?" under an answer: Right, Wrong: it is [game], Not a game, and the visitor's consent to
 * keep the screenshot (off until ticked). The vote goes with the file itself (the gateway takes no hash
 * alone), so a page without the file asks for it first. The games are the served model's own labels.
 * After a vote: thanks, and the chance to change it (the gateway updates the vote). */
export function Feedback({ answer, sha256, file, sent = null, onSent }: Props) {
  const { view } = useModels();
  const id = useId();
  const [state, setState] = useState<State>(sent ? { step: "sent", sent, news: null } : { step: "asking" });
  const [game, setGame] = useState("");
  const [share, setShare] = useState(false);
  const [picked, setPicked] = useState<File | null>(null);
  const [tries, setTries] = useState(0); // a new failure counts its own Retry-After down
  const screenshot = file ?? picked;
  const games = (view?.labels ?? []).filter((g) => g.label !== answer.label);
  const busy = state.step === "sending";

  const send = (vote: FeedbackVote) => {
    if (!screenshot) return;
    setState({ step: "sending", vote });
    setTries((n) => n + 1);
    sendFeedback(screenshot, sha256, vote).then(
      (record) => {
        const kept = remembered(record, view, answer.top_k);
        setState({ step: "sent", sent: kept, news: record.updated ? "updated" : "new" });
        onSent?.(kept);
      },
      (error: unknown) => setState({ step: "failed", vote, error: asApiError(error) }),
    );
  };

  if (state.step === "sent") {
    return (
      <section aria-label="Your feedback" className="space-y-2 border-t border-ash/60 pt-3" data-testid="feedback">
        <p className="text-sm text-gaslamp" aria-live="polite" data-testid="feedback-thanks">
          {thanks(state.sent, state.news)}
        </p>
        <button type="button" className={button} onClick={() => setState({ step: "asking" })}>
          Change my answer
        </button>
      </section>
    );
  }
  return (
    <section aria-label="Was this right?" className="space-y-2 border-t border-ash/60 pt-3" data-testid="feedback">
      <p className="text-xs text-moon">Was this right?</p>
      {!file && (
        <label className="block text-xs text-moon">
          This page keeps only a thumbnail: pick the screenshot again to send your answer with it.
          <input
            type="file"
            accept="image/jpeg,image/png,image/webp"
            className="mt-1 block text-xs"
            data-testid="feedback-file"
            onChange={(event) => setPicked(event.currentTarget.files?.[0] ?? null)}
          />
        </label>
      )}
      {screenshot && (
        <>
          <div className="flex flex-wrap items-center gap-2">
            <button type="button" className={button} disabled={busy} onClick={() => send({ verdict: "right", label: null, share })}>
              Right
            </button>
            <button type="button" className={button} disabled={busy} onClick={() => send({ verdict: "not_a_game", label: null, share })}>
              Not a game
            </button>
          </div>
          <div className="flex flex-wrap items-center gap-2 text-xs text-moon">
            <label htmlFor={`${id}-game`}>Wrong: it is</label>
            <select
              id={`${id}-game`}
              value={game}
              onChange={(event) => setGame(event.currentTarget.value)}
              disabled={games.length === 0}
              className="rounded border border-ash bg-abyss px-1 py-0.5 text-xs text-parchment"
            >
              <option value="">{games.length ? "choose a game" : "the games are loading…"}</option>
              {games.map((g) => (
                <option key={g.label} value={g.label}>
                  {g.name}
                </option>
              ))}
            </select>
            <button type="button" className={button} disabled={busy || !game} onClick={() => send({ verdict: "wrong", label: game, share })}>
              Send correction
            </button>
          </div>
          <label className="flex items-center gap-2 text-xs text-moon">
            <input type="checkbox" checked={share} onChange={(event) => setShare(event.currentTarget.checked)} className="accent-blood" />
            Share this screenshot to improve the model
          </label>
        </>
      )}
      {busy && <p className="text-xs text-moon">Sending…</p>}
      {state.step === "failed" && <ErrorNotice key={tries} error={state.error} onRetry={() => send(state.vote)} />}
    </section>
  );
}
