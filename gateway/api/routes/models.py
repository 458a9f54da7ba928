"""GET /api/v1/models: a read-only view; managing models is TorchServe's management API, never public."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from gateway import use_cases
from gateway.api.deps import ServicesDep, admit
from gateway.schemas import ErrorBody, ModelsView

router = APIRouter(prefix="/api/v1")


@router.get(
    "/models",
    responses={
        200: {"model": ModelsView},
        429: {"model": ErrorBody, "description": "rate limited"},
        503: {"model": ErrorBody, "description": "no model is being served yet"},
    },
)
async def models(request: Request, response: Response, services: ServicesDep) -> dict[str, Any]:
    response.headers.update((await admit(request, services)).headers())
    return await use_cases.models_view(services)
