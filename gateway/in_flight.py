"""A cap on the requests under /api/ that one worker holds at once. Each may hold an upload in memory
and waits its turn at the model, so past the cap a request gets a 503 with Retry-After at once, before
its body is read: memory stays bounded and a client hears "busy" in milliseconds, not after a queue.
A path whose body may be larger (a batch) takes several places under the cap, so that the bound is in
uploads' worth of memory, not in requests. Probes and metrics are never capped."""

from __future__ import annotations

from typing import Any

from gateway.errors import error_response
from gateway.metrics import IN_FLIGHT


class Load:
    """The places in use under the cap in this worker, for what should give way under load (a canary's
    shadow calls: gateway.canary)."""

    def __init__(self) -> None:
        self.used = 0
        self.limit = 1

    @property
    def share(self) -> float:
        return self.used / self.limit


LOAD = Load()  # one worker is one process: the middleware's own count


class InFlightLimit:
    """Plain ASGI middleware (one worker is one event loop: a plain counter is exact)."""

    def __init__(self, app: Any, limit: int, weights: dict[str, int] | None = None) -> None:
        """``weights``: the places a request to each of these paths takes (one elsewhere)."""
        self.app = app
        self.limit = LOAD.limit = limit
        self.weights = weights or {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        weight = min(self.weights.get(scope["path"], 1), self.limit)  # a lone batch always fits
        if LOAD.used + weight > self.limit:
            busy = error_response(
                503, "overloaded", "the service is busy; try again in a moment", {"Retry-After": "1"}
            )
            await busy(scope, receive, send)
            return
        LOAD.used += weight
        IN_FLIGHT.inc()  # requests, whatever their weight
        try:
            await self.app(scope, receive, send)
        finally:
            LOAD.used -= weight
            IN_FLIGHT.dec()
