"""Answers cached in Redis under a key that changes whenever the answer could: image bytes, model, its
version and archive digest (a re-exported archive never serves its predecessor's answers), the
handler's preprocessing and what was asked (top_k, or an explanation). Redis trouble
of any kind skips the cache (fail-open): an answer never waits on or fails because of the cache. Writes
go out after the answer."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

import orjson
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.breaker import CircuitBreaker
from gateway.metrics import CACHE
from inference.answers import ClassificationBody, ExplanationBody

logger = logging.getLogger(__name__)

# How long a new answer waits before it is written to Redis. The client, woken by the answer, is often
# scheduled on the gateway's own core; a write started at once holds that core for a few hundred
# microseconds of Python and a Redis round trip while the client waits (docs/performance-log.md,
# Gateway: cache hits, misses and overhead).
WRITE_BEHIND_SECONDS = 0.002
EXPLANATION = "explain"  # what ``cache_key`` is asked for an explanation; a classification gives top_k


def image_digest(data: bytes | bytearray) -> str:
    return hashlib.sha256(data).hexdigest()


def cache_key(
    image: str, model: str, version: str, archive: str, preprocessing: str, asked: int | str
) -> str:
    """``image``: the upload's SHA-256; ``archive``: the model archive's content digest; ``asked``: the
    classification's top_k, or ``EXPLANATION``."""
    return f"fromsoft:answer:v2:{model}:{version}:{archive}:{preprocessing}:{asked}:{image}"


def stored_answer(key: str, raw: bytes | str | None) -> dict[str, Any] | None:
    """The answer Redis holds under ``key`` (``raw``), or None for nothing, garbage or an entry that does
    not answer its key (logged): what the cache and share links (gateway.shares) may serve."""
    if not raw:
        return None
    try:
        answer = orjson.loads(raw)
    except orjson.JSONDecodeError:
        answer = None
    if not answers_its_key(key, answer):  # not ours, cut short or forged: ask the model again
        logger.warning("a cached entry does not answer its key; ignored: %s", key)
        CACHE.labels("rejected").inc()
        return None
    return dict(answer)


def answers_its_key(key: str, entry: Any) -> bool:
    """Whether ``entry`` is an answer of the right shape for ``key``: its kind and top_k, and the image,
    model, version and archive the key names. Whoever can write to Redis could otherwise change every
    visitor's answer for an image, or break it (an entry of another shape was a 500 for everyone)."""
    *_, model, version, archive, _, asked, image = key.split(":")
    shape = ExplanationBody if asked == EXPLANATION else ClassificationBody
    try:
        body = shape.model_validate(entry)
    except ValidationError:
        return False
    named = (body.sha256, body.model.name, body.model.version, body.model.digest)
    kind = isinstance(body, ExplanationBody) or len(body.top_k) == int(asked)
    return kind and named == (image, model, version, archive)


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

    async def get(self, key: str) -> dict[str, Any] | None:
        """The cached answer, from what this worker wrote moments ago (``put_behind``) or from Redis."""
        if (answer := self._unwritten.get(key)) is not None:
            CACHE.labels("hit").inc()
            return answer
        if self.breaker.is_open:
            CACHE.labels("skipped").inc()
            return None
        try:
            raw = await self.redis.get(key)
        except (RedisError, OSError) as exc:
            self._failed("get", exc)
            return None
        self.breaker.success()
        if not raw:
            CACHE.labels("miss").inc()
            return None
        if (answer := stored_answer(key, raw)) is None:
            return None
        CACHE.labels("hit").inc()
        return answer

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
