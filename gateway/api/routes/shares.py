"""POST /api/v1/shares and GET /api/v1/shares/{share_id}: share links (gateway.shares). Making one takes
the image itself, as /classify does (multipart field ``file`` or the raw body), so that only someone
holding the image reads its answer; reading one takes the unguessable id the maker was given. Each costs
a unit of the client's rate limit, before its upload is read: a share never reaches the model, so large
images pay no more. Plain Starlette routes, as classify's are (gateway.api.routes.classify)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from gateway import use_cases
from gateway.api.deps import admit, services_of
from gateway.api.keyed import SCOPE_CLASSIFY
from gateway.errors import ApiError
from gateway.responses import JsonResponse
from gateway.shares import SHARE_ID
from gateway.validation import parse_top_k, read_upload


async def create(request: Request) -> JsonResponse:
    services = services_of(request)
    decision = await admit(request, services, scope=SCOPE_CLASSIFY)
    top_k = parse_top_k(request.query_params.get("top_k"))
    settings = services.settings
    upload = await read_upload(
        request, settings.max_upload_bytes, settings.max_body_bytes, settings.max_image_pixels
    )
    body = await use_cases.share(services, upload, top_k)
    return JsonResponse(body, status_code=201, headers=decision.headers())


async def read(request: Request) -> JsonResponse:
    services = services_of(request)
    decision = await admit(request, services)
    share_id = request.path_params["share_id"]
    if not SHARE_ID.fullmatch(share_id):
        raise ApiError(422, "invalid_request", "share_id: must be 22 characters of A-Z, a-z, 0-9, - and _")
    return JsonResponse(await use_cases.shared(services, share_id), headers=decision.headers())


routes = [
    Route("/api/v1/shares", create, methods=["POST"]),
    Route("/api/v1/shares/{share_id}", read, methods=["GET"]),
]
