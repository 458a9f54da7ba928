"""POST /api/v1/classify, /api/v1/classify/batch and /api/v1/explain: HTTP in, a plain call of a use
case (gateway.use_cases), HTTP out.

The rate limiter decides on the client's address first; the upload is read only once the request is
admitted, so a client over its limit costs one Redis round trip and never a buffered upload. An image
of more than ``PIXELS_PER_UNIT`` pixels (a 4K frame) then pays the rest of its price, one unit per
``PIXELS_PER_UNIT`` started: PNG and WebP have no draft mode, so the worker decodes every pixel, and a
changed byte makes any image a cache miss. That second round trip is only for such images.

A batch costs a unit per file (and the same for its large images): the whole of it before its body is
read when the client says how many files it sends (``count``), else one unit then, and the rest once its
files are counted.

Plain Starlette routes, not FastAPI path operations: they take nothing from FastAPI's dependency and
parameter machinery but the request, and that machinery cost about 0.25 ms of every upload on our
2-core machine (docs/performance-log.md, Gateway: cache hits, misses and overhead). Errors still go
through the app's handlers (gateway.errors), which Starlette applies to every route.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from gateway import use_cases
from gateway.api.deps import admit, services_of
from gateway.batch import classify_batch
from gateway.batch_upload import parse_count, read_batch
from gateway.ratelimit import Decision
from gateway.request_context import current
from gateway.responses import JsonResponse
from gateway.services import Services
from gateway.validation import Upload, parse_top_k, read_upload


async def classify(request: Request) -> JsonResponse:
    services = services_of(request)
    decision = await admit(request, services)
    top_k = parse_top_k(request.query_params.get("top_k"))
    upload, decision = await _priced_upload(request, services, decision)
    return _answer(await use_cases.classify(services, upload, top_k), decision.headers())


async def classify_many(request: Request) -> JsonResponse:
    services = services_of(request)
    settings = services.settings
    declared = parse_count(request.query_params.get("count"), settings.batch_max_files)
    paid = declared or 1
    decision = await admit(request, services, cost=paid, files=declared)
    top_k = parse_top_k(request.query_params.get("top_k"))
    items = await read_batch(request, settings, declared)
    cost = sum(item.units(settings.pixels_per_unit) if isinstance(item, Upload) else 1 for item in items)
    if cost > paid:
        decision = await admit(request, services, cost=cost - paid, taken=paid, files=len(items))
    body = await classify_batch(services, items, top_k)
    answers = [result for result in body["results"] if "error" not in result]
    if answers and (context := current()) is not None:  # for the access log: all cached, or not
        context.answered({**answers[0], "cached": all(answer["cached"] for answer in answers)})
    return JsonResponse(body, headers=decision.headers())


async def explain(request: Request) -> JsonResponse:
    services = services_of(request)
    # A backward pass costs more than a classification.
    decision = await admit(request, services, cost=services.settings.explain_cost)
    upload, decision = await _priced_upload(request, services, decision)
    return _answer(await use_cases.explain(services, upload), decision.headers())


async def _priced_upload(request: Request, services: Services, admitted: Decision) -> tuple[Upload, Decision]:
    """The upload, and the limiter's decision once its pixels beyond the first unit are paid for."""
    settings = services.settings
    upload = await read_upload(
        request, settings.max_upload_bytes, settings.max_body_bytes, settings.max_image_pixels
    )
    extra = upload.units(settings.pixels_per_unit) - 1
    return upload, (await admit(request, services, cost=extra) if extra else admitted)


def _answer(body: dict[str, Any], headers: dict[str, str]) -> JsonResponse:
    """The answer, noted for the access log (cached or not, the version that answered)."""
    if (context := current()) is not None:
        context.answered(body)
    return JsonResponse(body, headers=headers)


routes = [
    Route("/api/v1/classify", classify, methods=["POST"]),
    Route("/api/v1/classify/batch", classify_many, methods=["POST"]),
    Route("/api/v1/explain", explain, methods=["POST"]),
]
