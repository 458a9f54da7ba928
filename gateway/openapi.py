"""The gateway's OpenAPI schema: FastAPI's own for its routes, plus classify and explain, which are
plain Starlette routes (gateway.api.routes.classify) that FastAPI does not describe by itself. Their
request bodies (multipart field ``file`` or a raw image), ``top_k``, answers and every error are taken
from the same models the gateway validates with (gateway.answers)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from gateway.answers import Classification, ErrorBody, Explanation
from gateway.validation import TOP_K_DEFAULT, TOP_K_MAX
from inference.formats import CONTENT_TYPES

REF = "#/components/schemas/{model}"
RETRY_AFTER = {"Retry-After": {"required": True, "schema": {"type": "integer"}, "description": "seconds"}}
REQUEST_ID = {
    "X-Request-ID": {
        "required": True,
        "schema": {"type": "string"},
        "description": "this request's ID, as in its error body and the logs of nginx, gateway, TorchServe",
    }
}
UPLOAD_ERRORS = {
    400: ("empty or corrupt image, or malformed multipart", {}),
    413: ("over MAX_UPLOAD_BYTES, or more pixels than MAX_IMAGE_PIXELS (twice a 4K frame)", {}),
    415: ("not a JPEG, PNG or WebP image, judged by its bytes", {}),
    422: ("no multipart field 'file', or a bad top_k", {}),
    429: ("rate limited (a large image costs a unit per PIXELS_PER_UNIT pixels, started)", RETRY_AFTER),
    502: ("the model server's answer had the wrong shape", {}),
    503: ("the model server is starting, down or busy, or this worker is at MAX_IN_FLIGHT", RETRY_AFTER),
    504: ("the model server did not answer in time", {}),
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _upload_operation(
    summary: str, answer: type[BaseModel], parameters: list[dict[str, Any]]
) -> dict[str, Any]:
    binary = {"schema": {"type": "string", "format": "binary"}}
    form = {
        "type": "object",
        "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary"}},
    }
    responses: dict[str, Any] = {
        "200": {
            "description": "the answer",
            "content": {"application/json": {"schema": _ref(answer)}},
            "headers": REQUEST_ID,
        }
    }
    for status, (why, headers) in UPLOAD_ERRORS.items():
        responses[str(status)] = {
            "description": why,
            "content": {"application/json": {"schema": _ref(ErrorBody)}},
            "headers": {**REQUEST_ID, **headers},
        }
    return {
        "summary": summary,
        "parameters": parameters,
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": form},
                **{
                    content_type: binary
                    for content_type in (*CONTENT_TYPES.values(), "application/octet-stream")
                },
            },
        },
        "responses": responses,
    }


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            _, definitions = models_json_schema(
                [(model, "serialization") for model in (Classification, Explanation, ErrorBody)],
                ref_template=REF,
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(definitions["$defs"])
            top_k = {
                "name": "top_k",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": TOP_K_MAX, "default": TOP_K_DEFAULT},
                "description": "how many games to list, best first",
            }
            schema["paths"]["/api/v1/classify"] = {
                "post": _upload_operation("Which game is this screenshot from?", Classification, [top_k])
            }
            schema["paths"]["/api/v1/explain"] = {
                "post": _upload_operation(
                    "Where the model looked (Grad-CAM of its top class)", Explanation, []
                )
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
