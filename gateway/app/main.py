"""The gateway: the stack's only public API (behind nginx), in front of TorchServe."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import ORJSONResponse

from gateway.api.routes import classify, health, models
from gateway.core.config import Settings, get_settings
from gateway.errors import install_error_handlers
from gateway.metrics import LATENCY, REQUESTS
from gateway.services import Services


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = services = Services.build(settings)
        refresher = asyncio.create_task(services.state.run())
        yield
        refresher.cancel()
        await services.close()

    app = FastAPI(title="FromSoft Lens gateway", default_response_class=ORJSONResponse, lifespan=lifespan)
    install_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"])

    @app.middleware("http")
    async def record(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        REQUESTS.labels(route, str(response.status_code)).inc()
        LATENCY.labels(route).observe(time.perf_counter() - started)
        return response

    for module in (classify, models, health):
        app.include_router(module.router)
    return app


app = create_app()
