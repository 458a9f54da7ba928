import { useRef, useState } from "react";
import { ApiError, asApiError } from "../api/errors";
import type { Answer } from "../api/types";
import { ErrorNotice } from "./ErrorNotice";

interface Props {
  answer: Answer;
  /** The link, where it exists already (a shared page's own address). */
  link?: string;
  /** Makes the link on the first click (a card's: the gateway makes an id for its answer). */
  create?: () => Promise<string>;
}

/** Copy an answer's share link, or hand it to the system's share sheet where the browser has one (Web
 * Share API). A card's link is made only when asked for, once. Where the clipboard is refused, or the
 * share sheet no longer takes the click (a slow upload outlasts the browser's few seconds of user
 * activation), the link is shown to copy by hand. */
export function ShareButtons({ answer, link, create }: Props) {
  const [made, setMade] = useState<string | null>(link ?? null);
  const [status, setStatus] = useState<"making" | "copied" | "shown" | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const making = useRef<Promise<string> | null>(null);

  const linkNow = (): Promise<string> => {
    if (made) return Promise.resolve(made);
    if (!create) return Promise.reject(new Error("no link to share"));
    if (!making.current) {
      setStatus("making");
      setError(null);
      making.current = create().then(
        (url) => {
          setMade(url);
          return url;
        },
        (failure: unknown) => {
          making.current = null; // the next click tries again
          throw failure;
        },
      );
    }
    return making.current;
  };
  const failed = (failure: unknown) => {
    setStatus(null);
    setError(asApiError(failure));
  };
  const copy = () =>
    linkNow().then((url) => {
      if (!navigator.clipboard) return setStatus("shown");
      return navigator.clipboard.writeText(url).then(
        () => setStatus("copied"),
        () => setStatus("shown"),
      );
    }, failed);
  const verdict = answer.label === "unknown" ? "Not recognised" : answer.name;
  const share = () =>
    linkNow().then((url) => {
      setStatus(null);
      return navigator
        .share({ title: "FromSoft Lens", text: `${verdict} (${(answer.confidence * 100).toFixed(1)}%)`, url })
        .catch((refusal: unknown) => {
          // Dismissed (AbortError): nothing to say. Refused (the click's activation ran out): the link.
          if (refusal instanceof DOMException && refusal.name === "NotAllowedError") setStatus("shown");
        });
    }, failed);
  const button = "rounded border border-ash px-2 py-0.5 text-xs text-moon hover:border-gaslamp hover:text-gaslamp";
  return (
    <div className="flex flex-wrap items-center gap-2" data-testid="share">
      <button type="button" onClick={copy} className={button} disabled={status === "making"}>
        Copy link
      </button>
      {typeof navigator.share === "function" && (
        <button type="button" onClick={share} className={button} disabled={status === "making"}>
          Share
        </button>
      )}
      {status === "making" && <span className="text-xs text-moon">Making the link…</span>}
      {status === "copied" && (
        <span className="text-xs text-gaslamp" aria-live="polite">
          Link copied
        </span>
      )}
      {status === "shown" && made && (
        <input readOnly value={made} aria-label="Share link" className="w-full bg-abyss px-1 text-xs text-moon" onFocus={(e) => e.currentTarget.select()} />
      )}
      {error && <ErrorNotice error={error} onRetry={copy} />}
    </div>
  );
}
