"""The gateway's OpenAPI schema: FastAPI's own for its routes, plus classify, its batch, explain, share
links and feedback, which are plain Starlette routes (gateway.api.routes) that FastAPI does not describe
by itself. Their request bodies (multipart field ``file``, a raw image, field ``files`` repeated, images'
URLs as JSON or fields ``url``, or a feedback form), parameters, answers and every error are taken from the
same models and limits the gateway validates with (gateway.schemas). Every operation takes an API key
(X-API-Key, or a bearer token), optional but for /api/v1/me, and declares the RateLimit fields its answers
may carry."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from gateway.batch_upload import FIELD, JSON_FIELD
from gateway.config import Settings
from gateway.feedback_form import SHARE
from gateway.schemas import (
    BatchAnswer,
    Classification,
    ErrorBody,
    Explanation,
    FeedbackAnswer,
    ShareCreated,
    SharedAnswer,
)
from gateway.shares import SHARE_ID
from gateway.url_guard import URL_MAX_LENGTH
from gateway.url_input import URL_FIELD, URL_SHAPE
from gateway.validation import TOP_K_DEFAULT, TOP_K_MAX
from inference.formats import BATCH_UPLOADS, CONTENT_TYPES
from inference.labels import LABELS
from store.models import VERDICTS

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
KEY_OPTIONAL = [{}, {"ApiKey": []}, {"Bearer": []}]  # without a key, the address's limits apply
KEY_REQUIRED = [{"ApiKey": []}, {"Bearer": []}]
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


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _operation(
    summary: str,
    answer: type[BaseModel],
    parameters: list[dict[str, Any]],
    errors: dict[int, tuple[str, dict[str, Any]]],
    body: dict[str, Any] | None = None,
    status: str = "200",
) -> dict[str, Any]:
    """An operation answering ``answer`` with ``status``, or ``ErrorBody`` with each of ``errors``'."""
    responses: dict[str, Any] = {
        status: {
            "description": "the answer",
            "content": {"application/json": {"schema": _ref(answer)}},
            "headers": {**REQUEST_ID, **NO_STORE, **RATE_LIMIT_FIELDS},
        }
    }
    for code, (why, headers) in {**KEY_ERRORS, **errors}.items():
        responses[str(code)] = {
            "description": why,
            "content": {"application/json": {"schema": _ref(ErrorBody)}},
            "headers": {**REQUEST_ID, **NO_STORE, **RATE_LIMIT_FIELDS, **headers},
        }
    operation = {
        "summary": summary,
        "parameters": parameters,
        "responses": responses,
        "security": KEY_OPTIONAL,
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": body}
    return operation


def _upload_operation(
    summary: str,
    answer: type[BaseModel],
    parameters: list[dict[str, Any]],
    errors: dict[int, tuple[str, dict[str, Any]]] = UPLOAD_ERRORS,
    status: str = "200",
) -> dict[str, Any]:
    binary = {"schema": {"type": "string", "format": "binary"}}
    form = {
        "type": "object",
        "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary"}},
    }
    raw = {content_type: binary for content_type in (*CONTENT_TYPES.values(), "application/octet-stream")}
    body = {"multipart/form-data": {"schema": form}, **raw}
    return _operation(summary, answer, parameters, errors, body, status)


def _classify_operation() -> dict[str, Any]:
    """An upload's operation, and the image's address instead: JSON ``{"url"}`` or form field ``url``."""
    operation = _upload_operation(
        "Which game is this screenshot from?", Classification, [TOP_K], CLASSIFY_ERRORS
    )
    content = operation["requestBody"]["content"]
    by_url = {"type": "object", "required": ["url"], "properties": {"url": URL_SCHEMA}}
    content["multipart/form-data"]["schema"] = {"oneOf": [content["multipart/form-data"]["schema"], by_url]}
    content["application/json"] = {"schema": {**by_url, "additionalProperties": False}}
    return operation


def _batch_operation(settings: Settings) -> dict[str, Any]:
    files = {
        "type": "array",
        "items": {"type": "string", "format": "binary"},
        "minItems": 1,
        "maxItems": settings.batch_max_files,
    }
    urls = {"type": "array", "items": URL_SCHEMA, "maxItems": settings.batch_max_files}
    properties = {FIELD: {**files, "minItems": 0}, URL_FIELD: urls}
    form = {
        "anyOf": [{"type": "object", "required": [name], "properties": properties} for name in properties]
    }
    by_url = {"type": "object", "required": [JSON_FIELD], "properties": {JSON_FIELD: {**urls, "minItems": 1}}}
    count = {
        "name": "count",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": settings.batch_max_files},
        "description": "how many files the body holds: the whole batch is then admitted by the rate "
        "limiter (or refused with 429) before its body is read; must match the body",
    }
    return _operation(
        "Several screenshots at once, uploaded or by URL: one answer per image, in the order sent",
        BatchAnswer,
        [TOP_K, count],
        BATCH_ERRORS,
        {
            "multipart/form-data": {
                "schema": form,
                "encoding": {FIELD: {"contentType": ", ".join(CONTENT_TYPES.values())}},
            },
            "application/json": {"schema": {**by_url, "additionalProperties": False}},
        },
    )


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


def _shared_operation() -> dict[str, Any]:
    share_id = {
        "name": "share_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": SHARE_ID.pattern.join("^$")},
        "description": "the id POST /api/v1/shares gave",
    }
    return _operation("A share link's answer", SharedAnswer, [share_id], SHARED_ERRORS)


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


def _feedback_form(verdict: str, label: str) -> dict[str, Any]:
    """The form for one verdict: ``label`` is "required", "optional" or "absent"."""
    properties: dict[str, Any] = {
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "the image's SHA-256"},
        "verdict": {"type": "string", "enum": [verdict]},
        "file": {
            "type": "string",
            "format": "binary",
            "description": "the screenshot itself, whose SHA-256 must be sha256 (a hash alone tells "
            "nothing: no answer is looked up without the image)",
        },
        "share": {
            "type": "string",
            "enum": list(SHARE),
            "default": "false",
            "description": "true: the visitor agrees to keep the screenshot for review "
            "(FEEDBACK_RETENTION_DAYS unless a moderator keeps it); otherwise it is not stored",
        },
    }
    if label != "absent":
        properties["label"] = {"type": "string", "enum": list(LABELS), "description": "the game it is"}
    required = ["sha256", "verdict", "file", *(["label"] if label == "required" else [])]
    return {"type": "object", "required": required, "properties": properties}


def _feedback_operation() -> dict[str, Any]:
    # One form per verdict: a label is required for "wrong", may confirm the answer for "right" (it must
    # then be the game the model answered), and is absent for "not_a_game".
    label = {"right": "optional", "wrong": "required", "not_a_game": "absent"}
    form = {"oneOf": [_feedback_form(verdict, label[verdict]) for verdict in VERDICTS]}
    operation = _operation(
        "Was this answer right? One vote per image per client; a repeat updates it",
        FeedbackAnswer,
        [],
        FEEDBACK_ERRORS,
        {"multipart/form-data": {"schema": form}},
    )
    responses = operation["responses"]
    responses["201"] = {**responses["200"], "description": "a new vote"}
    responses["200"] = {**responses["200"], "description": "this client's vote on this image, updated"}
    return operation


def install_openapi(app: FastAPI, settings: Settings) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            described = (
                Classification,
                Explanation,
                ErrorBody,
                BatchAnswer,
                ShareCreated,
                SharedAnswer,
                FeedbackAnswer,
            )
            _, definitions = models_json_schema(
                [(model, "serialization") for model in described], ref_template=REF
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(definitions["$defs"])
            schema["paths"]["/api/v1/classify"] = {"post": _classify_operation()}
            schema["paths"]["/api/v1/classify/batch"] = {"post": _batch_operation(settings)}
            schema["paths"]["/api/v1/shares"] = {
                "post": _upload_operation(
                    "A share link to this image's cached answer (send the image itself)",
                    ShareCreated,
                    [TOP_K],
                    SHARE_ERRORS,
                    status="201",
                )
            }
            schema["paths"]["/api/v1/shares/{share_id}"] = {"get": _shared_operation()}
            schema["paths"]["/api/v1/explain"] = {
                "post": _upload_operation(
                    "Where the model looked (Grad-CAM of its top class)", Explanation, []
                )
            }
            schema["paths"]["/api/v1/feedback"] = {"post": _feedback_operation()}
            _describe_keys(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _describe_keys(schema: dict[str, Any]) -> None:
    """The API key on FastAPI's own routes: /me requires one, the models view takes one."""
    schema["components"]["securitySchemes"] = SECURITY_SCHEMES
    me = schema["paths"]["/api/v1/me"]["get"]
    me["security"] = KEY_REQUIRED
    me["responses"]["401"]["headers"] = WWW_AUTHENTICATE
    schema["paths"]["/api/v1/models"]["get"]["security"] = KEY_OPTIONAL
    for operation in (me, schema["paths"]["/api/v1/models"]["get"]):
        for response in operation["responses"].values():
            response.setdefault("headers", {}).update(RATE_LIMIT_FIELDS)
