"""Prometheus metrics. With several uvicorn workers, set PROMETHEUS_MULTIPROC_DIR (the native stack and
compose do) so that /metrics sums every worker's counts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter("gateway_requests_total", "Requests by route and status", ["route", "status"])
LATENCY = Histogram(
    "gateway_request_seconds",
    "Request latency by route",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
UPSTREAM_LATENCY = Histogram(
    "gateway_upstream_seconds",
    "TorchServe call latency by endpoint",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CACHE = Counter("gateway_cache_total", "Cache lookups by result (hit, miss, error, skipped)", ["result"])
RATE_LIMITED = Counter("gateway_rate_limited_total", "Requests refused by the rate limiter")
IN_FLIGHT = Gauge(
    "gateway_requests_in_flight", "Requests under /api/ being served now", multiprocess_mode="livesum"
)


def render(multiproc_dir: Path | None) -> tuple[bytes, str]:
    """Every worker's metrics when they write to ``multiproc_dir``, else this process's."""
    if multiproc_dir is not None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, str(multiproc_dir))
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Requests and latency by route and status, as plain ASGI: Starlette's BaseHTTPMiddleware wraps the
    request and response streams and cost several milliseconds per upload here. Recorded when the
    response starts, so that the client is not kept waiting for it (the latency is time to headers)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        recorded = False

        def record(status: int) -> None:
            nonlocal recorded
            recorded = True
            route = getattr(scope.get("route"), "path", "unmatched")  # the router fills this in
            REQUESTS.labels(route, str(status)).inc()
            LATENCY.labels(route).observe(time.perf_counter() - started)

        async def send_and_record(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                record(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            if not recorded:  # no response at all: the server answers 500
                record(500)
