"""Probes and metrics: /healthz (alive), /readyz (the replica has converged to the declared state and its
default version has a READY worker), /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response

from gateway.api.deps import ServicesDep
from gateway.errors import error_response
from gateway.metrics import render
from gateway.responses import JsonResponse
from gateway.schemas import ErrorBody
from gateway.upstream import RETRY_AFTER

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"model": ErrorBody, "description": "not ready yet"}})
async def readyz(services: ServicesDep) -> JsonResponse:
    services.state.refresh()
    if not services.state.ready:
        return error_response(503, "not_ready", services.state.not_ready_because, RETRY_AFTER)
    redis = "ok" if await services.cache.ping() else "degraded"  # no cache means slower, not unready
    return JsonResponse(
        {
            "status": "ready",
            "model": services.settings.model_name,
            "version": services.state.default_version,
            "redis": redis,
            "feedback": await services.feedback.status(),  # feedback needs the database; answers do not
        }
    )


@router.get("/metrics", include_in_schema=False)  # Prometheus' text format, for the scraper
async def metrics(services: ServicesDep) -> Response:
    settings, tokens = services.settings, services.client.tokens
    payload, content_type = render(settings.prometheus_multiproc_dir, tokens.expiries)
    return Response(payload, media_type=content_type)
