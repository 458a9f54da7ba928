"""What each of the gateway's hand-described operations may answer besides its success (gateway.openapi):
every error status with the words a client reads, and the headers that come with them (Retry-After,
the request ID, Cache-Control, the RateLimit fields), and the API keys' security schemes. Kept apart
from the operations so that a new error is one line in one table."""

from __future__ import annotations

from gateway.batch_upload import FIELD
from gateway.url_guard import URL_MAX_LENGTH
from gateway.url_input import URL_SHAPE
from gateway.validation import TOP_K_DEFAULT, TOP_K_MAX
from inference.formats import BATCH_UPLOADS

REF = "#/components/schemas/{model}"
RETRY_AFTER = {"Retry-After": {"required": True, "schema": {"type": "integer"}, "description": "seconds"}}
LIMITED = {  # a 429: wait Retry-After, except a request that costs more than a window (waiting never helps)
    "Retry-After": {
        "required": False,
        "schema": {"type": "integer"},
        "description": "seconds; absent on cost_exceeds_limit (the request costs more than a limit's window)",
    }
}
REQUEST_ID = {
    "X-Request-ID": {
        "required": True,
        "schema": {"type": "string"},
        "description": "this request's ID, as in its error body and the logs of nginx, gateway, TorchServe",
    }
}
# gateway.observability sets it on every answer; declared, so that Schemathesis checks it on each.
NO_STORE = {"Cache-Control": {"required": True, "schema": {"type": "string", "const": "no-store"}}}
# gateway.key_usage sets them on every answer to a request with a live API key (and gateway.ratelimit on
# a 429 of an address): draft-ietf-httpapi-ratelimit-headers, structured-field lists.
RATE_LIMIT_FIELDS = {
    "RateLimit-Policy": {
        "required": False,
        "schema": {"type": "string"},
        "description": 'each limit and its size: "rate";q=60;w=60, "daily";q=5000;w=86400, '
        '"concurrency";q=4;qu="concurrent-requests" for a key',
    },
    "RateLimit": {
        "required": False,
        "schema": {"type": "string"},
        "description": 'what is left of each limit (r), seconds until more is (t): "rate";r=59;t=1, ...',
    },
}
SECURITY_SCHEMES = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "fsl_<prefix>_<secret>"},
    "Bearer": {"type": "http", "scheme": "bearer", "description": "the same key as a bearer token"},
}
# Without a key, the address's limits apply.
KEY_OPTIONAL: list[dict[str, list[str]]] = [{}, {"ApiKey": []}, {"Bearer": []}]
KEY_REQUIRED: list[dict[str, list[str]]] = [{"ApiKey": []}, {"Bearer": []}]
WWW_AUTHENTICATE = {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}}
KEY_ERRORS = {
    401: ("an API key that is malformed, unknown or revoked (invalid_api_key)", WWW_AUTHENTICATE),
    403: ("the API key's scopes do not include this route's (insufficient_scope)", {}),
}
UPLOAD_ERRORS = {
    400: ("empty or corrupt image, or malformed multipart", {}),
    413: (
        "over MAX_UPLOAD_BYTES, more pixels than MAX_IMAGE_PIXELS (twice a 4K frame), or more than the "
        "decoder's memory budget (image_too_large: a WebP over 5.9 MP, a multi-scan JPEG over 100 MB of "
        "coefficients)",
        {},
    ),
    415: ("not a JPEG, PNG or WebP image, judged by its bytes", {}),
    422: (
        "no multipart field 'file', a bad top_k, a side over 8 times the other (unsupported_aspect_ratio), "
        "or too many JPEG scans or segments or PNG chunks (image_too_complex)",
        {},
    ),
    429: (
        "rate limited (a large image costs a unit per PIXELS_PER_UNIT pixels, started), or costs too much; "
        "with an API key also quota_exhausted (its rolling daily quota) or concurrency_limited",
        LIMITED,
    ),
    502: ("the model server's answer had the wrong shape", {}),
    503: (
        "the model server is starting, down or busy, this worker is at MAX_IN_FLIGHT, or an API key's "
        "limits cannot be checked (keys_unavailable: Redis or the key store away)",
        RETRY_AFTER,
    ),
    504: ("the model server did not answer in time", {}),
}


BATCH_ERRORS = {
    **UPLOAD_ERRORS,
    400: ("malformed multipart, or a body that is not JSON (invalid_json)", {}),
    413: (f"a body over the batch's limit, {BATCH_UPLOADS} x MAX_UPLOAD_BYTES", {}),
    415: ("neither multipart/form-data nor application/json", {}),
    422: (
        f"no multipart field '{FIELD}' or 'url', a part of '{FIELD}' that is not a file, more than "
        "BATCH_MAX_FILES files and URLs, a bad top_k or count, a count the body does not hold, or a JSON "
        'body that is not {"urls": [...]}',
        {},
    ),
    503: (
        UPLOAD_ERRORS[503][0] + ", or fetches images by URL for URL_FETCH_CONCURRENCY requests",
        RETRY_AFTER,
    ),
    429: (
        "rate limited: a unit per file (and per PIXELS_PER_UNIT pixels of a large one), or costs too much",
        LIMITED,
    ),
}
URL_SCHEMA = {
    "type": "string",
    "maxLength": URL_MAX_LENGTH,
    "pattern": URL_SHAPE,
    "description": "an image's http or https address (ports 80 and 443), fetched by the gateway",
}
# /classify's errors: an upload's, and those of an image by URL.
CLASSIFY_ERRORS = {
    **UPLOAD_ERRORS,
    400: ("empty or corrupt image, malformed multipart, or a body that is not JSON (invalid_json)", {}),
    413: (UPLOAD_ERRORS[413][0] + "; a URL's image likewise, or a JSON body over its limit", {}),
    415: (
        "not a JPEG, PNG or WebP image (sent or fetched), judged by its bytes; or another Content-Type",
        {},
    ),
    422: (
        UPLOAD_ERRORS[422][0]
        + "; a URL that is malformed (invalid_request) or not allowed (url_not_allowed, "
        "its message starting with the reason: scheme, port, credentials, numeric_host, address)",
        {},
    ),
    502: (
        "the model server's answer had the wrong shape, or the image's URL could not be fetched "
        "(url_fetch_failed: unreachable, not a 200, more than 3 redirects)",
        {},
    ),
    503: (
        UPLOAD_ERRORS[503][0] + ", or it already fetches images by URL for URL_FETCH_CONCURRENCY requests",
        RETRY_AFTER,
    ),
    504: (
        "the model server did not answer in time, or the image's URL did not connect within 3 s or answer "
        "within 10 s in all (url_fetch_timeout)",
        {},
    ),
}
TOP_K = {
    "name": "top_k",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 1, "maximum": TOP_K_MAX, "default": TOP_K_DEFAULT},
    "description": "how many games to list, best first",
}


SHARE_ERRORS = {
    **{status: UPLOAD_ERRORS[status] for status in (400, 413, 415)},
    404: ("no answer for that image is cached for the version served now: classify it first", {}),
    422: ("no multipart field 'file', or a bad top_k", {}),
    429: ("rate limited", RETRY_AFTER),
    503: ("share links' store (Redis) is unreachable, no model is served yet, or MAX_IN_FLIGHT", RETRY_AFTER),
}
SHARED_ERRORS = {
    404: ("no such share, or it expired with the answer it showed", {}),
    422: ("a malformed share id", {}),
    429: ("rate limited", RETRY_AFTER),
    503: ("share links' store (Redis) is unreachable, or this worker is at MAX_IN_FLIGHT", RETRY_AFTER),
}


FEEDBACK_ERRORS = {
    400: ("the file's SHA-256 is not sha256 (hash_mismatch), or an empty, corrupt or malformed upload", {}),
    413: ("the file is over MAX_UPLOAD_BYTES or MAX_IMAGE_PIXELS", {}),
    415: ("not multipart/form-data, or a file that is not a JPEG, PNG or WebP", {}),
    422: (
        "no file (missing_file: a hash alone is never enough), or a bad field: sha256, verdict, share, a "
        "label that is not a game's or does not fit the verdict",
        {},
    ),
    429: (
        "rate limited (an image with no cached answer is classified first, at a classification's price)",
        RETRY_AFTER,
    ),
    503: (
        "the feedback database is down, unreachable or not migrated (feedback_unavailable; classification "
        "goes on), no model is served yet, or this worker is at MAX_IN_FLIGHT",
        RETRY_AFTER,
    ),
}
