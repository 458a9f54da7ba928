"""The gateway's long-lived collaborators, built once per worker from the settings, and the plain
functions that routes call (testable without HTTP)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from gateway.admission import Admission
from gateway.breaker import CircuitBreaker
from gateway.cache import AnswerCache, cache_key, image_digest
from gateway.core.config import Settings
from gateway.model_state import ModelState
from gateway.ratelimit import Decision, RateLimiter
from gateway.upstream import TorchServeClient
from gateway.validation import Upload


@dataclass
class Services:
    settings: Settings
    client: TorchServeClient
    state: ModelState
    cache: AnswerCache
    admission: Admission
    redis: Redis

    @classmethod
    def build(cls, settings: Settings) -> Services:
        redis = Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_timeout,
            socket_connect_timeout=settings.redis_timeout,
            retry_on_timeout=False,
        )
        client = TorchServeClient(settings)
        breaker = CircuitBreaker(settings.redis_breaker_failures, settings.redis_breaker_seconds)  # one Redis
        cache = AnswerCache(redis, settings.cache_ttl_seconds, breaker)
        limiter = RateLimiter(
            settings.rate_limit,
            settings.redis_url,
            settings.redis_timeout,
            report=settings.rate_limit_headers,
        )
        return cls(
            settings=settings,
            client=client,
            state=ModelState(client, settings.model_name, settings.model_refresh_seconds),
            cache=cache,
            admission=Admission(redis, breaker, limiter, cache),
            redis=redis,
        )

    async def close(self) -> None:
        await self.cache.flush()
        await self.client.close()
        await self.redis.aclose()


def shape_answer(answer: dict[str, Any], top_k: int, digest: str) -> dict[str, Any]:
    """The handler's answer (all seven classes) cut to the public response."""
    model = answer.get("model", {})
    return {
        "label": answer["label"],
        "name": answer["name"],
        "confidence": answer["confidence"],
        "top_k": answer["probabilities"][:top_k],
        "model": {"name": model.get("name"), "version": model.get("version")},
        "sha256": digest,
    }


@dataclass(frozen=True)
class Lookup:
    """An upload's admission: its digest, the limiter's decision, and the cached answer if there is one."""

    started: float
    digest: str
    top_k: int
    decision: Decision
    cached: dict[str, Any] | None


async def look_up(services: Services, client: str, upload: Upload, top_k: int, version: str) -> Lookup:
    """``version``: the model's default version (ModelState.current_version), part of the cache key."""
    started = time.perf_counter()
    digest = image_digest(upload.data)
    key = cache_key(
        digest, services.settings.model_name, version, services.state.preprocessing_version, top_k
    )
    admitted = await services.admission.admit(client, key)
    return Lookup(started, digest, top_k, admitted.decision, admitted.cached)


async def classify(services: Services, upload: Upload, lookup: Lookup) -> dict[str, Any]:
    """The cached answer, or the model's (then cached under the version that actually answered)."""
    if lookup.cached is not None:
        total_ms = round((time.perf_counter() - lookup.started) * 1000, 3)
        return {**lookup.cached, "cached": True, "timings_ms": {"total": total_ms}}

    model = services.settings.model_name
    upstream_started = time.perf_counter()
    answer = await services.client.predict(model, upload.data, upload.content_type)
    upstream_ms = (time.perf_counter() - upstream_started) * 1000
    body = shape_answer(answer, lookup.top_k, lookup.digest)
    # Keyed by what actually answered: a request racing a set-default never caches under the wrong version.
    preprocessing = str(answer.get("preprocessing_version", "unknown"))
    services.cache.put_behind(
        cache_key(lookup.digest, model, str(body["model"]["version"]), preprocessing, lookup.top_k), body
    )
    timings = {k: round(float(v), 3) for k, v in answer.get("timings_ms", {}).items()}
    total_ms = round((time.perf_counter() - lookup.started) * 1000, 3)
    timings.update(upstream=round(upstream_ms, 3), total=total_ms)
    return {**body, "cached": False, "timings_ms": timings}


async def explain(services: Services, upload: Upload) -> dict[str, Any]:
    return await services.client.predict(
        services.settings.model_name, upload.data, upload.content_type, explain=True
    )


async def models_view(services: Services) -> dict[str, Any]:
    """Read-only: served models, versions, default version, workers; labels and provenance of the default."""
    views = []
    for entry in await services.client.list_models():
        name = entry["modelName"]
        default = (await services.client.describe(name))[0]["modelVersion"]
        versions = [
            {
                "version": v["modelVersion"],
                "default": v["modelVersion"] == default,
                "workers": [{"id": w.get("id"), "status": w.get("status")} for w in v.get("workers", [])],
            }
            for v in await services.client.describe_all(name)
        ]
        views.append({"name": name, "default_version": default, "versions": versions})
    if services.state.default_version is None:
        await services.state.refresh()
    description = services.state.description
    return {
        "models": views,
        "labels": description.get("labels", []),
        "provenance": description.get("provenance", {}),
        "unknown_threshold": description.get("unknown_threshold"),
        "arch": description.get("model", {}).get("arch"),
    }
