import { useState } from "react";
import type { Classification } from "../api/types";
import { shareLink } from "../lib/share";

/** Copy a result's share link, or hand it to the system's share sheet where the browser has one (Web
 * Share API). Where the clipboard is refused, the link is shown to copy by hand. */
export function ShareButtons({ result }: { result: Classification }) {
  const [copied, setCopied] = useState<"copied" | "refused" | null>(null);
  const link = shareLink(result.sha256);
  const copy = () => {
    if (!navigator.clipboard) {
      setCopied("refused");
      return;
    }
    navigator.clipboard.writeText(link).then(
      () => setCopied("copied"),
      () => setCopied("refused"),
    );
  };
  const verdict = result.label === "unknown" ? "Not recognised" : result.name;
  const share = () =>
    navigator
      .share({ title: "FromSoft Lens", text: `${verdict} (${(result.confidence * 100).toFixed(1)}%)`, url: link })
      .catch(() => undefined); // dismissed: nothing to say
  const button = "rounded border border-ash px-2 py-0.5 text-xs text-moon hover:border-gaslamp hover:text-gaslamp";
  return (
    <div className="flex flex-wrap items-center gap-2" data-testid="share">
      <button type="button" onClick={copy} className={button}>
        Copy link
      </button>
      {typeof navigator.share === "function" && (
        <button type="button" onClick={share} className={button}>
          Share
        </button>
      )}
      {copied === "copied" && (
        <span className="text-xs text-gaslamp" aria-live="polite">
          Link copied
        </span>
      )}
      {copied === "refused" && (
        <input readOnly value={link} aria-label="Share link" className="w-full bg-abyss px-1 text-xs text-moon" onFocus={(e) => e.currentTarget.select()} />
      )}
    </div>
  );
}
