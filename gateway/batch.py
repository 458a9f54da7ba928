"""Classifying a batch: each file looked up in and written to the cache on its own (the same key a single
classification uses), and the misses sent to TorchServe together, as multi-image requests
(inference.multi_image), so that a batch pays the model server's hop once rather than once a file.

TorchServe takes a request as large as a batch's body (inference.formats.batch_body_bytes, rendered by
ops.torchserve_config): the misses go in one request, cut only at the handler's MAX_IMAGES. A copy of a
file in the same batch is asked once, and a file whose answer another request of this worker is asking
the model for already waits for that call (gateway.coalesce). A handler of an archive exported before
multi-image requests existed says nothing of them in its description: its misses go one request each,
still at once.

One file's refusal, the gateway's or the handler's, takes that file's place in the answer; a failure of
the model server itself (down, busy, too slow, an answer of the wrong shape) fails the batch, as it fails
a single classification.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from gateway import use_cases
from gateway.batch_upload import Item
from gateway.cache import image_digest
from gateway.coalesce import Outcome, Shared
from gateway.errors import ApiError
from gateway.request_context import current
from gateway.schemas import checked, wrong_shape
from gateway.services import Services
from gateway.validation import Upload
from inference.answers import HandlerClassification, HandlerRefusal, Refusal
from inference.formats import BATCH_UPLOADS
from inference.multi_image import MAX_IMAGES

logger = logging.getLogger(__name__)
Miss = tuple[str, Upload]  # an image's digest and the image
Answered = dict[str, Outcome]  # image digest -> its answer, or its refusal


def refusal(code: str, message: str) -> dict[str, Any]:
    """A file's refusal in the one error shape, under the batch's request ID."""
    context = current()
    request_id = context.request_id if context is not None else None
    return {"error": {"code": code, "message": message, "request_id": request_id}}


def packed(misses: list[Miss], max_bytes: int) -> list[list[Miss]]:
    """The misses in order, cut into requests of at most ``max_bytes`` of images (a file alone may be up
    to that) and ``MAX_IMAGES`` images."""
    requests: list[list[Miss]] = []
    size = 0
    for miss in misses:
        weight = len(miss[1].data)
        if not requests or size + weight > max_bytes or len(requests[-1]) == MAX_IMAGES:
            requests.append([])
            size = 0
        requests[-1].append(miss)
        size += weight
    return requests


async def _ask_together(services: Services, misses: list[Miss], top_k: int) -> Answered:
    """One multi-image request: the handler's answer for each image, checked and cached behind."""
    started = time.perf_counter()
    images = [(upload.data, upload.content_type) for _, upload in misses]
    raw = await services.client.predict_many(services.settings.model_name, images)
    upstream_ms = use_cases.ms_since(started)
    if not isinstance(raw, list) or len(raw) != len(misses):
        logger.error("TorchServe's answer to %d images is not a list of as many", len(misses))
        raise wrong_shape()
    answered: Answered = {}
    for (digest, upload), answer in zip(misses, raw, strict=True):
        if isinstance(answer, dict) and "error" in answer:
            answered[digest] = checked(HandlerRefusal, answer).error
        else:
            classification = checked(HandlerClassification, answer)
            answered[digest] = use_cases.classified(services, digest, classification, top_k, upstream_ms)
            use_cases.observed(services, digest, upload, classification)
    return answered


async def _ask_alone(services: Services, miss: Miss, top_k: int) -> Answered:
    """A miss in a request of its own (a handler that takes no multi-image requests)."""
    digest, upload = miss
    return {digest: await use_cases.ask_classification(services, digest, upload, top_k)}


async def _ask_model(services: Services, misses: list[Miss], top_k: int) -> Answered:
    if services.state.description.get("multi_image_requests"):
        requests = packed(misses, BATCH_UPLOADS * services.settings.max_upload_bytes)
        asked = [_ask_together(services, request, top_k) for request in requests]
    else:
        asked = [_ask_alone(services, miss, top_k) for miss in misses]
    answered: Answered = {}
    for answers in await asyncio.gather(*asked):
        answered.update(answers)
    return answered


async def _shared(
    services: Services, misses: list[Miss], keys: dict[str, str], top_k: int
) -> dict[str, Shared]:
    """Each miss's outcome by its digest: from this worker's call in flight for the same answer (a single
    classification's, another batch's), or from this batch's own (gateway.coalesce)."""
    by_key = {keys[digest]: (digest, upload) for digest, upload in misses}

    async def ask(asked: list[str]) -> dict[str, Outcome]:
        answered = await _ask_model(services, [by_key[key] for key in asked], top_k)
        return {keys[digest]: outcome for digest, outcome in answered.items()}

    shared = await services.coalescer.ask(list(by_key), ask)
    return {digest: shared[keys[digest]] for digest, _ in misses}


async def _hits(services: Services, keys: dict[str, str]) -> dict[str, dict[str, Any] | None]:
    """Each image's cached answer by its digest, or None: the lookups at once, but for answers a call in
    flight will give (none is cached yet)."""
    looked_up = [digest for digest, key in keys.items() if not services.coalescer.in_flight(key)]
    found = await asyncio.gather(*(services.cache.get(keys[digest]) for digest in looked_up))
    return {digest: None for digest in keys} | dict(zip(looked_up, found, strict=True))


def _result(shared: Shared, total: float) -> dict[str, Any]:
    outcome, joined = shared
    if isinstance(outcome, ApiError | Refusal):
        return refusal(outcome.code, outcome.message)
    if joined:
        return {**use_cases.served_again(outcome), "timings_ms": {"total": total}}
    return {**outcome, "timings_ms": {**outcome["timings_ms"], "total": total}}


async def classify_batch(services: Services, items: list[Item], top_k: int) -> dict[str, Any]:
    """``{"results": [...]}``: for each file in the order sent, what ``/classify`` gives, or its refusal."""
    started = time.perf_counter()
    uploads = {index: item for index, item in enumerate(items) if isinstance(item, Upload)}
    digests = {index: image_digest(upload.data) for index, upload in uploads.items()}
    keys = {digest: use_cases.answer_key(services, digest, top_k) for digest in digests.values()}
    hits = await _hits(services, keys)
    misses = {digests[index]: upload for index, upload in uploads.items() if hits[digests[index]] is None}
    shared = await _shared(services, list(misses.items()), keys, top_k) if misses else {}
    total = use_cases.ms_since(started)
    results: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if isinstance(item, ApiError):
            results.append(refusal(item.code, item.message))
        elif (hit := hits[digests[index]]) is not None:
            results.append({**hit, "cached": True, "timings_ms": {"total": total}})
        else:
            results.append(_result(shared[digests[index]], total))
    return {"results": results}
