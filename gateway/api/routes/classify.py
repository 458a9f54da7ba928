"""POST /api/v1/classify and /api/v1/explain: HTTP in, a plain service call, HTTP out.

Plain Starlette routes, not FastAPI path operations: they take nothing from FastAPI's dependency and
parameter machinery but the request, and that machinery cost about 0.25 ms of every upload on our
2-core machine, an eighth of the overhead budget (BENCHMARKS.md, gateway). Errors still go through the
app's handlers (gateway.errors), which Starlette applies to every route.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from gateway import services
from gateway.api.deps import admitted, services_of
from gateway.responses import JsonResponse
from gateway.validation import Upload, parse_top_k, read_upload


async def classify(request: Request) -> JsonResponse:
    deps = services_of(request)

    async def look_up() -> tuple[Upload, services.Lookup]:
        top_k = parse_top_k(request.query_params.get("top_k"))
        upload = await read_upload(request, deps.settings.max_upload_bytes, deps.settings.max_body_bytes)
        return upload, await services.look_up(deps, upload, top_k)

    (upload, lookup), limit = await admitted(request, deps, look_up())
    return JsonResponse(await services.classify(deps, upload, lookup), headers=limit.headers())


async def explain(request: Request) -> JsonResponse:
    deps = services_of(request)
    upload, limit = await admitted(
        request, deps, read_upload(request, deps.settings.max_upload_bytes, deps.settings.max_body_bytes)
    )
    return JsonResponse(await services.explain(deps, upload), headers=limit.headers())


routes = [
    Route("/api/v1/classify", classify, methods=["POST"]),
    Route("/api/v1/explain", explain, methods=["POST"]),
]
