"""One pass over every request: its ID, its metrics by route template and status, its access-log line,
and the header that keeps its answer out of every cache.

Plain ASGI: Starlette's BaseHTTPMiddleware wraps the request and response streams and cost several
milliseconds per upload here, and one middleware does the four jobs for the price of one.

- **ID.** nginx sends each request's ``X-Request-ID``; it is kept when it comes from the edge
  (``TRUSTED_PROXIES``, and the edge's key where one is set: gateway.client_ip.Edge) and is well formed,
  else the gateway makes one, so a client reaching the gateway directly never picks the ID it is logged
  under. It goes back in the ``X-Request-ID`` header and every error body, and on to TorchServe
  (gateway.request_context). asgi-correlation-id does the rest of this job but believes the header from
  anyone.
- **Route.** The template comes from the app's paths, not from the router: the in-flight cap answers
  before routing, and plain Starlette routes (classify, explain) leave nothing in the scope that names
  them. A fixed path is one dict lookup; a path with parameters (``/api/v1/shares/{share_id}``) is
  matched by its pattern and counted under its template. A path the app does not serve is
  ``unmatched``, so a scan cannot mint label values.
- **No caching.** Every answer carries ``Cache-Control: no-store`` (unless a route set its own): an
  answer names an image's game, a share's contents or a client's error, and no browser, proxy or CDN
  should keep one for anyone else. nginx passes it on; the front end's files keep nginx's caching.
- **When.** Counted at the response's start, so that the client is not kept waiting for it (the latency
  is time to headers); the log line is written once the answer has gone out.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.routing import compile_path

from gateway.client_ip import EDGE_KEY_HEADER, Edge
from gateway.logs import ACCESS
from gateway.metrics import LATENCY, REQUESTS
from gateway.request_context import accepted_request_id, begin

UNMATCHED = "unmatched"
NO_STORE = (b"cache-control", b"no-store")
_REQUEST_ID, _EDGE_KEY = b"x-request-id", EDGE_KEY_HEADER.encode()


@dataclass(frozen=True)
class Templates:
    """The route template of a request's path: the app's fixed paths, then its paths with parameters."""

    fixed: dict[str, str]
    patterns: tuple[tuple[re.Pattern[str], str], ...]

    def get(self, path: str, default: str = UNMATCHED) -> str:
        if (template := self.fixed.get(path)) is not None:
            return template
        return next((template for regex, template in self.patterns if regex.match(path)), default)


def route_templates(routes: Sequence[Any]) -> Templates:
    """The templates of every route of the app, included routers' too."""
    paths = [context.path for context in iter_route_contexts(routes) if context.path]
    fixed = {path: path for path in paths if "{" not in path}
    return Templates(fixed, tuple((compile_path(path)[0], path) for path in paths if "{" in path))


class Observability:
    def __init__(self, app: Any, templates: Templates, edge: Edge) -> None:
        self.app = app
        self.templates = templates
        self.edge = edge

    def _request_id(self, scope: dict[str, Any]) -> str:
        headers = {k: v.decode("latin-1") for k, v in scope["headers"] if k in (_REQUEST_ID, _EDGE_KEY)}
        sent = headers.get(_REQUEST_ID)
        peer = scope.get("client")
        from_edge = sent is not None and self.edge.sent(peer and peer[0], headers.get(_EDGE_KEY))
        return accepted_request_id(sent, from_edge)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        context = begin(self._request_id(scope))
        id_header = (b"x-request-id", context.request_id.encode())
        answered: dict[str, Any] = {}

        def record(status: int) -> None:
            latency = time.perf_counter() - started
            route = self.templates.get(scope["path"], UNMATCHED)
            REQUESTS.labels(route, str(status)).inc()
            LATENCY.labels(route).observe(latency)
            answered.update(route=route, status=status, latency_ms=round(latency * 1000, 3))

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                record(message["status"])
                headers = [*message.get("headers", ()), id_header]
                if not any(name.lower() == NO_STORE[0] for name, _ in headers):
                    headers.append(NO_STORE)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            context.error = context.error or "internal_error"
            raise
        finally:
            if not answered:  # no response started: the server answers 500
                record(500)
            ACCESS.info(
                "%s %s %s",
                scope["method"],
                answered["route"],
                answered["status"],
                extra={
                    "access": {
                        "request_id": context.request_id,
                        "method": scope["method"],
                        **answered,
                        "cached": context.cached,
                        "model_version": context.model_version,
                        "error": context.error,
                    }
                },
            )
