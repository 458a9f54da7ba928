"""Answers cached in Redis under a key that changes whenever the answer could: image bytes, model,
its default version, the handler's preprocessing and top_k. Redis trouble of any kind skips the cache
(fail-open): a classification never waits on or fails because of the cache. Lookups ride on the rate
limiter's round trip (gateway.admission); writes go out after the answer."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from gateway.breaker import CircuitBreaker
from gateway.metrics import CACHE

logger = logging.getLogger(__name__)

# How long a new answer waits before it is written to Redis. The client, woken by the answer, is often
# scheduled on the gateway's own core; a write started at once holds that core for a few hundred
# microseconds of Python and a Redis round trip while the client waits (BENCHMARKS.md, gateway).
WRITE_BEHIND_SECONDS = 0.002


def image_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cache_key(digest: str, model: str, version: str, preprocessing: str, top_k: int) -> str:
    return f"fromsoft:answer:v1:{model}:{version}:{preprocessing}:{top_k}:{digest}"


class AnswerCache:
    def __init__(
        self,
        redis: Redis,
        ttl_seconds: int,
        breaker: CircuitBreaker,
        write_behind_seconds: float = WRITE_BEHIND_SECONDS,
    ) -> None:
        self.redis = redis
        self.ttl = ttl_seconds
        self.breaker = breaker
        self.write_behind = write_behind_seconds
        self._unwritten: dict[str, dict[str, Any]] = {}  # scheduled, not yet in Redis: this worker hits them
        self._writes: set[asyncio.Task[None]] = set()  # running writes, kept from the garbage collector

    def remembered(self, key: str) -> dict[str, Any] | None:
        """An answer this worker gave moments ago and has not written to Redis yet (``put_behind``)."""
        if (answer := self._unwritten.get(key)) is not None:
            CACHE.labels("hit").inc()
        return answer

    def queue_get(self, pipe: Pipeline, key: str) -> None:
        """Queue the lookup on ``pipe`` (gateway.admission's round trip); its reply goes to ``found``."""
        pipe.get(key)

    def found(self, raw: bytes | None) -> dict[str, Any] | None:
        CACHE.labels("hit" if raw else "miss").inc()
        return orjson.loads(raw) if raw else None

    def passed_over(self, failed: bool) -> None:
        """No lookup: Redis failed just now (``failed``), or the breaker keeps us from asking it."""
        CACHE.labels("error" if failed else "skipped").inc()

    async def put(self, key: str, value: dict[str, Any]) -> None:
        if self.breaker.is_open:
            return
        try:
            await self.redis.set(key, orjson.dumps(value), ex=self.ttl)
        except (RedisError, OSError) as exc:
            self._failed("set", exc)
            return
        self.breaker.success()

    def put_behind(self, key: str, value: dict[str, Any]) -> None:
        """Cache ``value`` after the answer has gone out (``write_behind_seconds``). Until Redis has it, this
        worker answers repeats from memory; another worker may miss for those few milliseconds and ask
        the model again, which costs time, never correctness."""
        self._unwritten[key] = value
        asyncio.get_running_loop().call_later(self.write_behind, self._start_write, key, value)

    def _start_write(self, key: str, value: dict[str, Any]) -> None:
        task = asyncio.create_task(self._write(key, value))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, key: str, value: dict[str, Any]) -> None:
        try:
            await self.put(key, value)
        finally:
            if self._unwritten.get(key) is value:
                del self._unwritten[key]

    async def flush(self) -> None:
        """At shutdown: write what is still waiting, so no answer is dropped."""
        waiting = [self.put(key, value) for key, value in self._unwritten.items()]
        await asyncio.gather(*self._writes, *waiting, return_exceptions=True)

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
