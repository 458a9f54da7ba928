"""POST /api/v1/classify, /api/v1/classify/batch and /api/v1/explain: HTTP in, a plain call of a use
case (gateway.use_cases), HTTP out.

The rate limiter decides on the client's address first; the upload is read only once the request is
admitted, so a client over its limit costs one Redis round trip and never a buffered upload. An image
of more than ``PIXELS_PER_UNIT`` pixels (a 4K frame) then pays the rest of its price, one unit per
``PIXELS_PER_UNIT`` started: PNG and WebP have no draft mode, so the worker decodes every pixel, and a
changed byte makes any image a cache miss. That second round trip is only for such images.

A batch costs the sum of its files' units: at least a unit per file before its body is read when the
client says how many files it sends (``count``), else one unit then, and the rest once its files are
counted. Whatever its cost, a request pays all of it, or is refused (gateway.api.deps).

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
from gateway.api.deps import EXPLANATION, IMAGE, Paid, Priced, admit, batch, services_of, settle
from gateway.api.keyed import SCOPE_BATCH, SCOPE_CLASSIFY
from gateway.batch import classify_batch
from gateway.batch_upload import parse_count, read_batch
from gateway.request_context import current
from gateway.responses import JsonResponse
from gateway.services import Services
from gateway.validation import Upload, parse_top_k, read_upload


async def classify(request: Request) -> JsonResponse:
    services = services_of(request)
    decision = await admit(request, services, priced=IMAGE, scope=SCOPE_CLASSIFY)
    top_k = parse_top_k(request.query_params.get("top_k"))
    upload, decision = await _priced_upload(request, services, decision, 0, IMAGE)
    return _answer(await use_cases.classify(services, upload, top_k), decision.headers())


async def classify_many(request: Request) -> JsonResponse:
    services = services_of(request)
    settings = services.settings
    declared = parse_count(request.query_params.get("count"), settings.batch_max_files)
    decision = await admit(request, services, cost=declared or 1, priced=batch(declared), scope=SCOPE_BATCH)
    top_k = parse_top_k(request.query_params.get("top_k"))
    items = await read_batch(request, settings, declared)
    costs = [item.units(settings.pixels_per_unit) if isinstance(item, Upload) else 1 for item in items]
    decision = await settle(request, services, decision, sum(costs), batch(len(items)))
    body = await classify_batch(services, items, top_k)
    answers = [result for result in body["results"] if "error" not in result]
    if (context := current()) is not None:
        # A key's quota counts the files answered, not those refused alone.
        context.answered_units = sum(
            c for c, r in zip(costs, body["results"], strict=True) if "error" not in r
        )
        if answers:  # for the access log: all cached, or not
            context.answered({**answers[0], "cached": all(answer["cached"] for answer in answers)})
    return JsonResponse(body, headers=decision.headers())


async def explain(request: Request) -> JsonResponse:
    services = services_of(request)
    # A backward pass costs more than a classification.
    cost = services.settings.explain_cost
    decision = await admit(request, services, cost=cost, priced=EXPLANATION, scope=SCOPE_CLASSIFY)
    upload, decision = await _priced_upload(request, services, decision, cost - 1, EXPLANATION)
    return _answer(await use_cases.explain(services, upload), decision.headers())


async def _priced_upload(
    request: Request, services: Services, paid: Paid, surcharge: int, priced: Priced
) -> tuple[Upload, Paid]:
    """The upload, and the limiter's decision once it is paid for whole: its pixels' units, plus
    ``surcharge`` (an explanation's backward pass)."""
    settings = services.settings
    upload = await read_upload(
        request, settings.max_upload_bytes, settings.max_body_bytes, settings.max_image_pixels
    )
    cost = upload.units(settings.pixels_per_unit) + surcharge
    return upload, await settle(request, services, paid, cost, priced)


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
