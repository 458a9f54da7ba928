"""GET /api/v1/results/{sha256}: what a share link shows, the model's answer for an image as the cache
holds it for the version served by default now. Images are never stored: the answer lives as long as
its cache entry (CACHE_TTL_SECONDS), and a link to an image nobody classified under this version is a
404. A plain Starlette route, as classify is (gateway.api.routes.classify)."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.routing import Route

from gateway import use_cases
from gateway.api.deps import admit, services_of
from gateway.errors import ApiError
from gateway.responses import JsonResponse
from gateway.validation import parse_top_k

SHA256 = re.compile(r"[0-9a-f]{64}")


async def result(request: Request) -> JsonResponse:
    services = services_of(request)
    decision = await admit(request, services)
    digest = request.path_params["sha256"]
    if not SHA256.fullmatch(digest):
        raise ApiError(422, "invalid_request", "sha256: must be 64 lowercase hexadecimal digits")
    top_k = parse_top_k(request.query_params.get("top_k"))
    return JsonResponse(await use_cases.shared(services, digest, top_k), headers=decision.headers())


routes = [Route("/api/v1/results/{sha256}", result, methods=["GET"])]
