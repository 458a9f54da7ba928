"""One error shape for every failure: ``{"error": {"code", "message", "request_id"}}`` with the right
status. The request's ID is the one in its X-Request-ID header and in every log line about it: what a
user quotes when reporting a failure."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.request_context import current, new_request_id
from gateway.responses import JsonResponse


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JsonResponse:
    """The failure of the request being served (its access-log line reports ``code``)."""
    context = current()
    if context is not None:
        context.error = code
    request_id = context.request_id if context is not None else new_request_id()
    body = {"error": {"code": code, "message": message, "request_id": request_id}}
    return JsonResponse(body, status_code=status, headers=headers)


_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JsonResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JsonResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(422, "invalid_request", f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JsonResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), exc.headers)  # a 405's Allow, say

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JsonResponse:
        # Logged by uvicorn; the client gets no stack trace. Starlette answers this one outside every
        # middleware, so the headers gateway.observability gives the others' are set here.
        answer = error_response(500, "internal_error", "the gateway failed unexpectedly; try again")
        answer.headers["Cache-Control"] = "no-store"
        if (context := current()) is not None:
            answer.headers["X-Request-ID"] = context.request_id
        return answer
