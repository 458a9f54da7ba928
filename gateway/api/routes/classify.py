"""POST /api/v1/classify and /api/v1/explain: HTTP in, a plain service call, HTTP out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from gateway import services
from gateway.api.deps import ServicesDep, admitted
from gateway.responses import JsonResponse
from gateway.validation import Upload, read_upload

router = APIRouter(prefix="/api/v1")


@router.post("/classify")
async def classify(
    request: Request,
    deps: ServicesDep,
    top_k: Annotated[int, Query(ge=1, le=7, description="how many games to list")] = 3,
) -> JsonResponse:
    async def look_up() -> tuple[Upload, services.Lookup]:
        upload = await read_upload(request, deps.settings.max_upload_bytes, deps.settings.max_body_bytes)
        return upload, await services.look_up(deps, upload, top_k)

    (upload, lookup), limit = await admitted(request, deps, look_up())
    return JsonResponse(await services.classify(deps, upload, lookup), headers=limit.headers())


@router.post("/explain")
async def explain(request: Request, deps: ServicesDep) -> JsonResponse:
    upload, limit = await admitted(
        request, deps, read_upload(request, deps.settings.max_upload_bytes, deps.settings.max_body_bytes)
    )
    return JsonResponse(await services.explain(deps, upload), headers=limit.headers())
