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
from gateway.openapi_errors import (
    BATCH_ERRORS,
    CLASSIFY_ERRORS,
    FEEDBACK_ERRORS,
    KEY_ERRORS,
    KEY_OPTIONAL,
    KEY_REQUIRED,
    NO_STORE,
    RATE_LIMIT_FIELDS,
    REF,
    REQUEST_ID,
    SECURITY_SCHEMES,
    SHARE_ERRORS,
    SHARED_ERRORS,
    TOP_K,
    UPLOAD_ERRORS,
    URL_SCHEMA,
    WWW_AUTHENTICATE,
)
from gateway.schemas import BatchAnswer, ErrorBody, FeedbackAnswer, ShareCreated, SharedAnswer
from gateway.shares import SHARE_ID
from gateway.url_input import URL_FIELD
from inference.answers import Classification, Explanation
from inference.formats import CONTENT_TYPES
from inference.labels import LABELS
from store.models import VERDICTS


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


def _shared_operation() -> dict[str, Any]:
    share_id = {
        "name": "share_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": SHARE_ID.pattern.join("^$")},
        "description": "the id POST /api/v1/shares gave",
    }
    return _operation("A share link's answer", SharedAnswer, [share_id], SHARED_ERRORS)


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
        # The gateway's games table (inference.labels): the document is static, so a table with another
        # game changes it (make api-types); the route itself checks the served model's labels.
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
