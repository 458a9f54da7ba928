"""GET /api/v1/models: a read-only view; managing models is TorchServe's management API, never public."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from gateway import use_cases
from gateway.api.deps import ServicesDep, admit
from gateway.api.keyed import Keyed
from gateway.schemas import ErrorBody, ModelsView

router = APIRouter(prefix="/api/v1")


@router.get(
    "/models",
    responses={
        200: {"model": ModelsView},
        401: {"model": ErrorBody, "description": "an API key that is malformed, unknown or revoked"},
        429: {"model": ErrorBody, "description": "rate limited"},
        503: {"model": ErrorBody, "description": "no model is being served yet"},
    },
)
async def models(request: Request, response: Response, services: ServicesDep) -> dict[str, Any]:
    paid = await admit(request, services)
    response.headers.update(paid.headers())
    # A keyed client packs its batches by its key's burst, not by the address's limit.
    window = paid.lease.key.limits.burst if isinstance(paid, Keyed) else None
    return await use_cases.models_view(services, window)
