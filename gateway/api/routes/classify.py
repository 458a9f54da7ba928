"""POST /api/v1/classify and /api/v1/explain: HTTP in, a plain service call, HTTP out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import ORJSONResponse

from gateway import services
from gateway.api.deps import RateLimitDep, ServicesDep
from gateway.validation import read_upload

router = APIRouter(prefix="/api/v1")


@router.post("/classify")
async def classify(
    request: Request,
    deps: ServicesDep,
    limit: RateLimitDep,
    top_k: Annotated[int, Query(ge=1, le=7, description="how many games to list")] = 3,
) -> ORJSONResponse:
    upload = await read_upload(request, deps.settings.max_upload_bytes, deps.settings.max_body_bytes)
    return ORJSONResponse(await services.classify(deps, upload, top_k), headers=limit.headers())


@router.post("/explain")
async def explain(request: Request, deps: ServicesDep, limit: RateLimitDep) -> ORJSONResponse:
    upload = await read_upload(request, deps.settings.max_upload_bytes, deps.settings.max_body_bytes)
    return ORJSONResponse(await services.explain(deps, upload), headers=limit.headers())
