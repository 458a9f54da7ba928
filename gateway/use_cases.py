"""What the routes do, as plain functions of the worker's services (gateway.services), so that tests call
them without HTTP: classify, explain, share links, the models view. A batch
(gateway.batch) is answered with the same pieces."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from gateway.cache import EXPLANATION, cache_key, image_digest
from gateway.coalesce import Outcome, Shared
from gateway.drift import count_answer
from gateway.errors import ApiError
from gateway.schemas import checked
from gateway.services import Services
from gateway.validation import TOP_K_MAX, Upload
from inference.answers import (
    ClassificationBody,
    ExplanationBody,
    HandlerClassification,
    HandlerExplanation,
    Refusal,
)


def ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def answer_key(services: Services, digest: str, asked: int | str) -> str:
    """The cache key of this image's answer under the model's current default version and archive."""
    state = services.state
    version = state.current_version()
    return cache_key(digest, state.model, version, state.digest, state.preprocessing_version, asked)


async def cached(services: Services, digest: str, asked: int | str) -> dict[str, Any] | None:
    return await services.cache.get(answer_key(services, digest, asked))


def _cache_behind(
    services: Services,
    digest: str,
    answered_by: HandlerClassification | HandlerExplanation,
    asked: int | str,
    body: dict[str, Any],
) -> None:
    """Cache ``body`` under the version, archive and preprocessing that actually answered: a request
    racing a set-default never caches under the wrong version."""
    model = answered_by.model
    key = cache_key(digest, model.name, model.version, model.digest, answered_by.preprocessing_version, asked)
    services.cache.put_behind(key, body)


async def _hit_or_shared(
    services: Services, key: str, ask: Callable[[], Awaitable[Outcome]]
) -> dict[str, Any] | Shared:
    """The cached answer under ``key``, or the outcome of this worker's call in flight for it, or of a
    new call ``ask`` (gateway.coalesce). A call in flight means no answer is cached yet: no lookup."""
    if not services.coalescer.in_flight(key) and (hit := await services.cache.get(key)) is not None:
        return hit

    async def alone(keys: list[str]) -> dict[str, Outcome]:
        return {key: await ask()}

    return (await services.coalescer.ask([key], alone))[key]


def served_again(body: dict[str, Any], started: float | None = None) -> dict[str, Any]:
    """An answer this request did not ask the model for (cached, or another request's call in flight):
    it says ``cached``, and its timings are its own total alone."""
    again = {key: value for key, value in body.items() if key != "timings_ms"}
    if started is not None:
        again["timings_ms"] = {"total": ms_since(started)}
    return {**again, "cached": True}


def answered(shared: dict[str, Any] | Shared, started: float | None = None) -> dict[str, Any]:
    """A single request's answer, or the refusal it raises; ``started``: its timings' total is due."""
    if isinstance(shared, dict):
        return served_again(shared, started)
    outcome, joined = shared
    if isinstance(outcome, ApiError):  # each waiter raises its own copy: tracebacks are not shared
        raise ApiError(outcome.status, outcome.code, outcome.message, outcome.headers)
    assert isinstance(outcome, dict), outcome  # a refusal without a status is the caller's to handle
    if joined:
        return served_again(outcome, started)
    if started is None:
        return outcome
    return {**outcome, "timings_ms": {**outcome["timings_ms"], "total": ms_since(started)}}


async def classify(services: Services, upload: Upload, top_k: int) -> dict[str, Any]:
    """The cached answer, or the model's (checked, then cached): the call in flight for the same image
    in this worker if there is one, else its own."""
    started = time.perf_counter()
    digest = image_digest(upload.data)
    ask = partial(ask_classification, services, digest, upload, top_k)
    shared = await _hit_or_shared(services, answer_key(services, digest, top_k), ask)
    if isinstance(shared, Shared) and isinstance(shared.outcome, Refusal):
        # Refused inside a batch, which says no status: ask alone to hear the image's own.
        shared = Shared(await ask(), joined=False)
    return answered(shared, started)


async def ask_classification(services: Services, digest: str, upload: Upload, top_k: int) -> Outcome:
    """The model's answer to ``upload`` alone, checked and cached behind; its refusal of the image as an
    outcome (raised in each request that waits for it); the model server's own failure raised."""
    started = time.perf_counter()
    try:
        raw = await services.client.predict(services.settings.model_name, upload.data, upload.content_type)
    except ApiError as refused:
        if refused.status >= 500:
            raise
        return refused
    answer = checked(HandlerClassification, raw)
    body = classified(services, digest, answer, top_k, ms_since(started))
    observed(services, digest, upload, answer)
    return body


def observed(services: Services, digest: str, upload: Upload, answer: HandlerClassification) -> None:
    """What each answer of the model feeds besides its visitor: the drift counters (gateway.drift) and
    the canary's comparison (gateway.canary). Cached repeats feed neither: they are the same image."""
    count_answer(answer.model.name, answer.model.version, answer.label, answer.confidence)
    services.shadow.consider(digest, upload, answer)


def classified(
    services: Services, digest: str, answer: HandlerClassification, top_k: int, upstream_ms: float
) -> dict[str, Any]:
    """The model's answer for the image ``digest`` as the client gets it, cached behind; its timings
    lack the total, which the caller knows."""
    # Built through the shape the cache reads back (gateway.cache): a body of another shape would make
    # every later read of it a miss.
    body = ClassificationBody(
        label=answer.label,
        name=answer.name,
        confidence=answer.confidence,
        top_k=answer.probabilities[:top_k],
        model=answer.model,
        sha256=digest,
    ).model_dump()
    _cache_behind(services, digest, answer, top_k, body)
    timings = {k: round(v, 3) for k, v in answer.timings_ms.items()}
    return {**body, "cached": False, "timings_ms": {**timings, "upstream": upstream_ms}}


async def share(services: Services, upload: Upload, top_k: int) -> dict[str, Any]:
    """A share link to the answer cached for ``upload`` under the version served by default now, from
    any classification of it that listed at least ``top_k`` games, cut to ``top_k`` (gateway.shares).
    The image itself is the proof that the sender may read its answer: a hash alone unlocks nothing."""
    digest = image_digest(upload.data)
    return await services.shares.create(
        [answer_key(services, digest, k) for k in range(top_k, TOP_K_MAX + 1)], top_k
    )


async def shared(services: Services, share_id: str) -> dict[str, Any]:
    return await services.shares.get(share_id)


async def explain(services: Services, upload: Upload) -> dict[str, Any]:
    """Grad-CAM of the top class: the cached explanation, or the model's (checked, then cached), shared
    with the same image's explanation in flight in this worker."""
    digest = image_digest(upload.data)
    key = answer_key(services, digest, EXPLANATION)
    return answered(await _hit_or_shared(services, key, partial(_ask_explanation, services, digest, upload)))


async def _ask_explanation(services: Services, digest: str, upload: Upload) -> Outcome:
    try:
        raw = await services.client.predict(
            services.settings.model_name, upload.data, upload.content_type, explain=True
        )
    except ApiError as refused:
        if refused.status >= 500:
            raise
        return refused
    answer = checked(HandlerExplanation, raw)
    body = ExplanationBody(**answer.model_dump(exclude={"preprocessing_version"}), sha256=digest).model_dump()
    _cache_behind(services, digest, answer, EXPLANATION, body)
    return {**body, "cached": False}


def batch_files_that_fit(services: Services, window: int | None = None) -> int:
    """The most files a batch may hold and always fit the tightest limit's window (``window``: an API
    key's burst), whatever their size (each at the pixel cap): what the page and the CLI pack by, so that
    they never send a batch that costs more than a window (a 429 ``cost_exceeds_limit``). At least one:
    a lone file goes alone."""
    settings = services.settings
    window = window if window is not None else services.admission.limiter.tightest.amount
    return max(1, min(settings.batch_max_files, window // settings.units_at_pixel_cap))


async def models_view(services: Services, window: int | None = None) -> dict[str, Any]:
    """Read-only, from the replica's report (gateway.model_state); its batch limit for ``window``."""
    services.state.current_version()
    settings = services.settings
    limits = {
        "max_upload_bytes": settings.max_upload_bytes,
        "batch_max_files": batch_files_that_fit(services, window),
        "batch_max_bytes": settings.max_batch_body_bytes,
        "cache_ttl_seconds": settings.cache_ttl_seconds,
    }
    view = services.state.view()
    view["models"][0]["canary"] = await services.shadow.view()
    return {**view, **limits}
