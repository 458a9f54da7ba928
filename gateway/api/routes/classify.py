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
from gateway.api.deps import client_of, enforce, prepared, services_of
from gateway.responses import JsonResponse
from gateway.services import Services
from gateway.validation import Upload, parse_top_k, read_upload


async def _upload(request: Request, deps: Services) -> Upload:
    return await read_upload(request, deps.settings.max_upload_bytes, deps.settings.max_body_bytes)


async def _classify_request(request: Request, deps: Services) -> tuple[int, Upload, str]:
    top_k = parse_top_k(request.query_params.get("top_k"))
    upload = await _upload(request, deps)
    return top_k, upload, await deps.state.current_version()  # part of the cache key


async def classify(request: Request) -> JsonResponse:
    deps = services_of(request)
    client = client_of(request, deps.settings)
    top_k, upload, version = await prepared(deps, client, _classify_request(request, deps))
    lookup = await services.look_up(deps, client, upload, top_k, version)  # the limiter rides along
    enforce(lookup.decision)
    return JsonResponse(await services.classify(deps, upload, lookup), headers=lookup.decision.headers())


async def explain(request: Request) -> JsonResponse:
    deps = services_of(request)
    client = client_of(request, deps.settings)
    upload = await prepared(deps, client, _upload(request, deps))
    decision = (await deps.admission.admit(client)).decision
    enforce(decision)
    return JsonResponse(await services.explain(deps, upload), headers=decision.headers())


routes = [
    Route("/api/v1/classify", classify, methods=["POST"]),
    Route("/api/v1/explain", explain, methods=["POST"]),
]
