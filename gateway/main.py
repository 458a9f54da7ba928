"""The gateway: the stack's only public API (behind nginx), in front of TorchServe."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from gateway.api.routes import classify, feedback, health, me, models, shares
from gateway.client_ip import Edge
from gateway.config import Settings, get_settings
from gateway.errors import install_error_handlers
from gateway.in_flight import InFlightLimit
from gateway.key_usage import KeyUsage
from gateway.metrics import forget_dead_workers
from gateway.observability import Observability, route_templates
from gateway.openapi import install_openapi
from gateway.responses import JsonResponse
from gateway.services import Services
from inference.formats import BATCH_UPLOADS


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.prometheus_multiproc_dir is not None:
            forget_dead_workers(settings.prometheus_multiproc_dir)
        app.state.services = services = Services.build(settings)
        await services.connect_redis()
        background = [
            asyncio.create_task(services.state.run()),
            asyncio.create_task(services.key_limits.renew_forever()),
        ]
        yield
        for task in background:
            task.cancel()
        await services.close()

    app = FastAPI(
        title="FromSoft Lens gateway",
        default_response_class=JsonResponse,
        lifespan=lifespan,
        # Our metrics are Prometheus (gateway.metrics). FastAPI's built-in OpenTelemetry, even with no
        # provider configured, asks for one on every request: about 0.25 ms per upload here.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    install_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"])

    app.router.routes.extend([*classify.routes, *shares.routes, *feedback.routes])
    for module in (models, me, health):
        app.include_router(module.router)
    install_openapi(app, settings)

    # A keyed request's end: its key's RateLimit fields on the answer, its place freed, its units counted.
    app.add_middleware(KeyUsage)
    # A batch may hold BATCH_UPLOADS uploads' worth of memory: it takes as many places under the cap.
    app.add_middleware(
        InFlightLimit, limit=settings.max_in_flight, weights={"/api/v1/classify/batch": BATCH_UPLOADS}
    )
    # The outermost: the cap's 503s get an ID and are counted too.
    app.add_middleware(Observability, templates=route_templates(app.routes), edge=Edge.of(settings))
    return app


app = create_app()
