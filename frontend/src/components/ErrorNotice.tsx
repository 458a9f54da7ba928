import { ApiError, plainWords } from "../api/errors";
import { useCountdown } from "./useCountdown";

/** A failed request in plain words, with the reference an operator finds it by; a retry button, held
 * back while Retry-After counts down. */
export function ErrorNotice({ error, onRetry }: { error: ApiError; onRetry: () => void }) {
  const wait = error.kind === "rate_limited" || error.kind === "unavailable" ? error.retryAfter : null;
  const left = useCountdown(wait);
  const retryable = error.kind !== "too_large" && error.kind !== "unsupported" && error.kind !== "invalid";
  const words = plainWords(error);
  return (
    <div role="alert" className="rounded border border-ember/60 bg-blood/20 p-3 text-sm" data-error={error.kind}>
      <p className="font-semibold text-parchment">{words}</p>
      {error.message && error.message !== words && (
        <p className="mt-1 text-moon">{error.message}</p>
      )}
      {error.requestId && (
        <p className="mt-1 text-xs text-moon/70" data-testid="request-id">
          Reference if you report this: <code>{error.requestId}</code>
        </p>
      )}
      {retryable &&
        (left > 0 ? (
          <p className="mt-2 text-gaslamp" aria-live="polite">
            You can try again in {left} s.
          </p>
        ) : (
          <button
            type="button"
            onClick={onRetry}
            className="mt-2 rounded border border-gaslamp/70 px-3 py-1 text-gaslamp hover:bg-gaslamp/10"
          >
            Try again
          </button>
        ))}
    </div>
  );
}
