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

An image by URL costs what the same image uploaded costs, plus URL_FETCH_COST units for the fetch (it
holds a place and a connection for up to 10 s, where nginx hands an upload over buffered). The fetch's
units and one for the image are taken before anything is fetched, so that a client over its limit makes
the gateway fetch nothing; a large image's further units once its header is read, and those are not
given back when refused: the fetch was made. Every image by URL, single or in a batch, enters through
``fetch_images``.

Plain Starlette routes, not FastAPI path operations: they take nothing from FastAPI's dependency and
parameter machinery but the request, and that machinery cost about 0.25 ms of every upload on our
2-core machine (docs/performance-log.md, Gateway: cache hits, misses and overhead). Errors still go
through the app's handlers (gateway.errors), which Starlette applies to every route.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from starlette.requests import Request
from starlette.routing import Route

from gateway import use_cases
from gateway.api.deps import EXPLANATION, IMAGE, Paid, Priced, admit, batch, paid_units, services_of, settle
from gateway.api.keyed import SCOPE_BATCH, SCOPE_CLASSIFY, SCOPE_URL, require_scope
from gateway.batch import classify_batch
from gateway.batch_upload import Item, Sent, parse_count, read_batch
from gateway.errors import ApiError
from gateway.request_context import current
from gateway.responses import JsonResponse
from gateway.services import Services
from gateway.url_fetch import Budget
from gateway.url_input import ImageUrl, read_image_or_url
from gateway.validation import Upload, parse_top_k, read_upload
from inference.formats import BATCH_UPLOADS


async def classify(request: Request) -> JsonResponse:
    services = services_of(request)
    settings = services.settings
    decision = await admit(request, services, priced=IMAGE, scope=SCOPE_CLASSIFY)
    top_k = parse_top_k(request.query_params.get("top_k"))
    sent = await read_image_or_url(request, settings)
    if isinstance(sent, ImageUrl):
        [item], decision = await fetch_images(
            request, services, decision, [sent], Budget(settings.max_upload_bytes), IMAGE
        )
        if isinstance(item, ApiError):
            raise item
        upload = item
    else:
        upload = sent
        decision = await settle(request, services, decision, upload.units(settings.pixels_per_unit), IMAGE)
    return _answer(await use_cases.classify(services, upload, top_k), decision.headers())


async def classify_many(request: Request) -> JsonResponse:
    services = services_of(request)
    settings = services.settings
    declared = parse_count(request.query_params.get("count"), settings.batch_max_files)
    decision = await admit(request, services, cost=declared or 1, priced=batch(declared), scope=SCOPE_BATCH)
    top_k = parse_top_k(request.query_params.get("top_k"))
    sent = await read_batch(request, settings, declared)
    priced = batch(len(sent))
    urls = [item for item in sent if isinstance(item, ImageUrl)]
    if urls:
        held = sum(len(item.data) for item in sent if isinstance(item, Upload))
        budget = Budget(BATCH_UPLOADS * settings.max_upload_bytes - held)
        items, decision = await fetch_images(request, services, decision, sent, budget, priced)
    else:
        items = [item for item in sent if not isinstance(item, ImageUrl)]
        decision = await settle(request, services, decision, _units(items, settings.pixels_per_unit), priced)
    body = await classify_batch(services, items, top_k)
    answers = [result for result in body["results"] if "error" not in result]
    if (context := current()) is not None:
        # A key's quota counts the files answered (a URL's fetch with it), not those refused alone.
        context.answered_units = sum(
            _units([item], settings.pixels_per_unit) + settings.url_fetch_cost * isinstance(origin, ImageUrl)
            for item, origin, result in zip(items, sent, body["results"], strict=True)
            if "error" not in result
        )
        if answers:  # for the access log: all cached, or not
            context.answered({**answers[0], "cached": all(answer["cached"] for answer in answers)})
    return JsonResponse(body, headers=decision.headers())


async def fetch_images(
    request: Request, services: Services, paid: Paid, sent: list[Sent], budget: Budget, priced: Priced
) -> tuple[list[Item], Paid]:
    """The one way in for images by URL: ``sent``'s URLs fetched (at once, ``budget`` shared), each in
    its place as the image or the error that refuses it alone. The request pays for its files, a unit
    per URL and the fetches before any is made, and a fetched image's pixels beyond a unit after."""
    settings = services.settings
    require_scope(SCOPE_URL)  # every image by URL comes through here
    parsed = [_parsed(services, item) for item in sent]
    urls = [item for item in parsed if isinstance(item, httpx.URL)]
    ahead = _units(sent, settings.pixels_per_unit) + settings.url_fetch_cost * len(urls)
    decision = await settle(request, services, paid, ahead, priced)
    images: list[Item] = []
    if urls:
        with services.fetcher.place():
            images = await asyncio.gather(*(_fetched(services, url, budget) for url in urls))
    fetched = iter(images)
    items = [next(fetched) if isinstance(item, httpx.URL) else item for item in parsed]
    extra = sum(image.units(settings.pixels_per_unit) - 1 for image in images if isinstance(image, Upload))
    if extra and (units := paid_units(decision)) is not None:
        decision = await settle(request, services, decision, units + extra, priced, refundable=False)
    return items, decision


def _parsed(services: Services, item: Sent) -> Item | httpx.URL:
    """A URL as the guard parsed it, or why it may not be fetched; a file as it is."""
    if not isinstance(item, ImageUrl):
        return item
    try:
        return services.fetcher.guard.parsed(item.url)
    except ApiError as refused:
        return refused


async def _fetched(services: Services, url: httpx.URL, budget: Budget) -> Item:
    try:
        return await services.fetcher.image(url, budget, services.settings.max_image_pixels)
    except ApiError as refused:
        return refused


def _units(items: list[Sent] | list[Item], pixels_per_unit: int) -> int:
    """What the images cost by their pixels; a refused file or a URL not fetched yet a unit."""
    return sum(item.units(pixels_per_unit) if isinstance(item, Upload) else 1 for item in items)


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
