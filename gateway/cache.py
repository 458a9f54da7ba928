"""Answers cached in Redis under a key that changes whenever the answer could: image bytes, model,
its default version, the handler's preprocessing and top_k. Redis trouble of any kind skips the cache
(fail-open): a classification never waits on or fails because of the cache."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.breaker import CircuitBreaker
from gateway.metrics import CACHE

logger = logging.getLogger(__name__)


def image_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cache_key(digest: str, model: str, version: str, preprocessing: str, top_k: int) -> str:
    return f"fromsoft:answer:v1:{model}:{version}:{preprocessing}:{top_k}:{digest}"


class AnswerCache:
    def __init__(self, redis: Redis, ttl_seconds: int, breaker: CircuitBreaker) -> None:
        self.redis = redis
        self.ttl = ttl_seconds
        self.breaker = breaker

    @property
    def healthy(self) -> bool:
        return not self.breaker.is_open

    async def get(self, key: str) -> dict[str, Any] | None:
        if self.breaker.is_open:
            CACHE.labels("skipped").inc()
            return None
        try:
            raw = await self.redis.get(key)
        except (RedisError, OSError) as exc:
            self._failed("get", exc)
            return None
        self.breaker.success()
        CACHE.labels("hit" if raw else "miss").inc()
        return orjson.loads(raw) if raw else None

    async def put(self, key: str, value: dict[str, Any]) -> None:
        if self.breaker.is_open:
            return
        try:
            await self.redis.set(key, orjson.dumps(value), ex=self.ttl)
        except (RedisError, OSError) as exc:
            self._failed("set", exc)
            return
        self.breaker.success()

    async def ping(self) -> bool:
        try:
            await self.redis.ping()
        except (RedisError, OSError):
            return False
        return True

    def _failed(self, op: str, exc: Exception) -> None:
        CACHE.labels("error").inc()
        self.breaker.failure()
        logger.warning("redis %s failed, serving without the cache: %s", op, exc)
