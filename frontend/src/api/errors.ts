/** Every way a request can fail, each its own kind so the UI can explain it in plain words. */

export type ApiErrorKind =
  | "too_large" // 413
  | "unsupported" // 415
  | "invalid" // 400, 422
  | "rate_limited" // 429
  | "unavailable" // 503
  | "timeout" // 504
  | "network" // no answer at all
  | "unknown";

export class ApiError extends Error {
  readonly kind: ApiErrorKind;
  readonly status: number | null;
  readonly code: string;
  /** Seconds to wait before retrying, from Retry-After (429, 503). */
  readonly retryAfter: number | null;
  /** The request's ID (X-Request-ID): what a visitor quotes so an operator finds it in every log. */
  readonly requestId: string | null;

  constructor(
    kind: ApiErrorKind,
    message: string,
    status: number | null,
    code: string,
    retryAfter: number | null,
    requestId: string | null = null,
  ) {
    super(message);
    this.name = "ApiError";
    this.kind = kind;
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
    this.requestId = requestId;
  }
}

const KIND_BY_STATUS: Record<number, ApiErrorKind> = {
  400: "invalid",
  413: "too_large",
  415: "unsupported",
  422: "invalid",
  429: "rate_limited",
  502: "unavailable",
  503: "unavailable",
  504: "timeout",
};

/** What a visitor reads for each kind of failure. */
export const PLAIN_WORDS: Record<ApiErrorKind, string> = {
  too_large: "That file is too large. Screenshots up to 5 MB are accepted.",
  unsupported: "That file is not an image we accept. Send a JPEG, PNG or WebP screenshot.",
  invalid: "That image could not be read. It may be damaged or cut short.",
  rate_limited: "Too many requests. Wait a moment before trying again.",
  unavailable: "The service is warming up or down. Try again shortly.",
  timeout: "The model took too long to answer. Try again.",
  network: "Could not reach the service. Check your connection.",
  unknown: "Something went wrong. Try again.",
};

/** Where a code says more than its status: what a visitor reads instead of the kind's words. */
const WORDS_BY_CODE: Record<string, string> = {
  feedback_unavailable: "Feedback is unavailable right now; classification still works.",
  hash_mismatch: "That is not the screenshot this answer is for.",
  invalid_request: "The service did not accept that request as it was sent.",
};

/** What a visitor reads for `error`: its code's words where it has its own, else its kind's. */
export function plainWords(error: ApiError): string {
  return WORDS_BY_CODE[error.code] ?? PLAIN_WORDS[error.kind];
}

/** Whatever a request rejected with, as an ApiError (anything else becomes "unknown"). */
export function asApiError(error: unknown): ApiError {
  return error instanceof ApiError ? error : new ApiError("unknown", PLAIN_WORDS.unknown, null, "unknown", null);
}

export function parseRetryAfter(value: string | null | undefined): number | null {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds));
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** What each refusal of one file in a batch means, by its code (it has no status of its own). */
const KIND_BY_CODE: Record<string, ApiErrorKind> = {
  payload_too_large: "too_large",
  image_too_large: "too_large",
  unsupported_media_type: "unsupported",
  empty_payload: "invalid",
  invalid_image: "invalid",
};

/** One file's refusal inside a batch's answer as a typed ApiError. */
export function refusalError(error: { code: string; message: string; request_id: string | null }): ApiError {
  const kind = KIND_BY_CODE[error.code] ?? "invalid";
  return new ApiError(kind, error.message || PLAIN_WORDS[kind], null, error.code, null, error.request_id);
}

/** The gateway's `{"error": {"code", "message", "request_id"}}` (or no answer at all) as a typed ApiError. */
export function toApiError(
  status: number | null,
  body: unknown,
  headers: Record<string, string | undefined> = {},
): ApiError {
  if (status === null) return new ApiError("network", PLAIN_WORDS.network, null, "network_error", null);
  const error = (body as { error?: { code?: string; message?: string; request_id?: string } } | null)?.error;
  const kind = KIND_BY_STATUS[status] ?? "unknown";
  return new ApiError(
    kind,
    error?.message ?? PLAIN_WORDS[kind],
    status,
    error?.code ?? `http_${status}`,
    parseRetryAfter(headers["retry-after"]),
    error?.request_id ?? headers["x-request-id"] ?? null,
  );
}
