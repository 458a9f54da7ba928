"""The gateway's long-lived collaborators, built once per worker from the settings, and the plain
functions that routes call (testable without HTTP)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from gateway.admission import Admission
from gateway.breaker import CircuitBreaker
from gateway.cache import EXPLANATION, AnswerCache, cache_key, image_digest
from gateway.canary import Shadow
from gateway.config import Settings
from gateway.drift import count_answer
from gateway.errors import ApiError
from gateway.metrics import redis_breaker_changed
from gateway.model_state import ModelState
from gateway.ratelimit import RateLimiter
from gateway.schemas import HandlerClassification, HandlerExplanation, checked
from gateway.upstream import TorchServeClient
from gateway.validation import TOP_K_MAX, Upload


@dataclass
class Services:
    settings: Settings
    client: TorchServeClient
    state: ModelState
    cache: AnswerCache
    admission: Admission
    redis: Redis
    shadow: Shadow

    @classmethod
    def build(cls, settings: Settings) -> Services:
        redis_address = settings.redis_address()
        redis = Redis.from_url(
            redis_address,
            socket_timeout=settings.redis_timeout,
            socket_connect_timeout=settings.redis_timeout,
            retry_on_timeout=False,
        )
        client = TorchServeClient(settings)
        breaker = CircuitBreaker(  # one Redis, so one breaker for the cache and the limiter
            settings.redis_breaker_failures, settings.redis_breaker_seconds, redis_breaker_changed
        )
        limiter = RateLimiter(
            settings.rate_limit,
            redis_address,
            settings.redis_timeout,
            report=settings.rate_limit_headers,
        )
        state = ModelState(settings.replica_status_file, settings.model_name, settings.model_refresh_seconds)
        return cls(
            settings=settings,
            client=client,
            state=state,
            cache=AnswerCache(redis, settings.cache_ttl_seconds, breaker),
            admission=Admission(redis, breaker, limiter),
            redis=redis,
            shadow=Shadow(client, state, redis, breaker, settings.canary_concurrency),
        )

    async def close(self) -> None:
        await self.shadow.drain()
        await self.cache.flush()
        await self.client.close()
        await self.redis.aclose()


def ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


async def cached(services: Services, digest: str, asked: int | str) -> dict[str, Any] | None:
    """The answer cached for this image under the model's current default version and archive."""
    state = services.state
    version = state.current_version()
    key = cache_key(digest, state.model, version, state.digest, state.preprocessing_version, asked)
    return await services.cache.get(key)


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


async def classify(services: Services, upload: Upload, top_k: int) -> dict[str, Any]:
    """The cached answer, or the model's (checked, then cached)."""
    started = time.perf_counter()
    digest = image_digest(upload.data)
    if (hit := await cached(services, digest, top_k)) is not None:
        return {**hit, "cached": True, "timings_ms": {"total": ms_since(started)}}

    upstream_started = time.perf_counter()
    raw = await services.client.predict(services.settings.model_name, upload.data, upload.content_type)
    answer = checked(HandlerClassification, raw)
    body = classified(services, digest, answer, top_k, ms_since(upstream_started))
    observed(services, digest, upload, answer)
    body["timings_ms"]["total"] = ms_since(started)
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
    body = {
        "label": answer.label,
        "name": answer.name,
        "confidence": answer.confidence,
        "top_k": [ranked.model_dump() for ranked in answer.probabilities[:top_k]],
        "model": answer.model.model_dump(),
        "sha256": digest,
    }
    _cache_behind(services, digest, answer, top_k, body)
    timings = {k: round(v, 3) for k, v in answer.timings_ms.items()}
    return {**body, "cached": False, "timings_ms": {**timings, "upstream": upstream_ms}}


async def shared(services: Services, digest: str, top_k: int) -> dict[str, Any]:
    """The answer cached for the image ``digest`` under the version served by default now: from any
    classification of it that listed at least ``top_k`` games, cut to ``top_k``; 404 when none is."""
    started = time.perf_counter()
    asked = range(top_k, TOP_K_MAX + 1)
    for hit in await asyncio.gather(*(cached(services, digest, k) for k in asked)):
        if hit is not None:
            top = hit["top_k"][:top_k]
            return {**hit, "top_k": top, "cached": True, "timings_ms": {"total": ms_since(started)}}
    raise ApiError(
        404,
        "not_found",
        "no answer for that image is cached for the model served now (images are never stored): "
        "classify it again",
    )


async def explain(services: Services, upload: Upload) -> dict[str, Any]:
    """Grad-CAM of the top class: the cached explanation, or the model's (checked, then cached)."""
    digest = image_digest(upload.data)
    if (hit := await cached(services, digest, EXPLANATION)) is not None:
        return {**hit, "cached": True}
    raw = await services.client.predict(
        services.settings.model_name, upload.data, upload.content_type, explain=True
    )
    answer = checked(HandlerExplanation, raw)
    body = {**answer.model_dump(exclude={"preprocessing_version"}), "sha256": digest}
    _cache_behind(services, digest, answer, EXPLANATION, body)
    return {**body, "cached": False}


async def models_view(services: Services) -> dict[str, Any]:
    """Read-only, from the replica's report (gateway.model_state)."""
    services.state.current_version()
    settings = services.settings
    limits = {
        "max_upload_bytes": settings.max_upload_bytes,
        "batch_max_files": settings.batch_max_files,
        "batch_max_bytes": settings.max_batch_body_bytes,
    }
    view = services.state.view()
    view["models"][0]["canary"] = await services.shadow.view()
    return {**view, **limits}
