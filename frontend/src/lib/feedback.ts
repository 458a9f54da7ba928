/** What a visitor said of an answer, as the page remembers it (the card's thank-you, the history): the
 * verdict, the game it names with its display name, and whether the screenshot went with consent. */
import type { FeedbackRecord, FeedbackVerdict, ModelsView, Ranked } from "../api/types";

export interface SentFeedback {
  verdict: FeedbackVerdict;
  label: string | null;
  name: string | null; // the label's display name, when it names a game
  shared: boolean;
  at: string; // ISO time
}

/** The recorded vote, its game named as the served model names it (its labels, or the answer's own). */
export function remembered(record: FeedbackRecord, view: ModelsView | null, ranked: Ranked[]): SentFeedback {
  const label = record.label;
  const name = label ? (view?.labels.find((g) => g.label === label)?.name ?? ranked.find((g) => g.label === label)?.name ?? label) : null;
  return { verdict: record.verdict, label, name, shared: record.shared, at: new Date().toISOString() };
}

/** What the visitor said, to follow "you said": "it was right", "it is Elden Ring", "it is not a game". */
export function said(sent: SentFeedback): string {
  if (sent.verdict === "wrong") return `it is ${sent.name ?? sent.label}`;
  return sent.verdict === "not_a_game" ? "it is not a game" : "it was right";
}
