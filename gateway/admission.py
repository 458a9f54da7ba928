"""Admission before the model in one Redis round trip: the client's rate limits and the cache lookup
travel on one pipeline. Apart they were a round trip each, and a round trip costs about 0.35 ms inside
a miss on our 2-core machine, where everything the gateway adds must fit in 2 ms (BENCHMARKS.md).

Redis trouble of any kind (refused, timeout, read-only, out of memory, wrong password) fails open for
both: the limiter counts in process and the request goes to the model. The breaker stops even asking a
sick Redis for a while, then lets one request probe it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.breaker import CircuitBreaker
from gateway.cache import AnswerCache
from gateway.ratelimit import Decision, RateLimiter

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Admitted:
    decision: Decision
    cached: dict[str, Any] | None  # the cached answer, when a key was looked up and found


@dataclass
class Admission:
    redis: Redis
    breaker: CircuitBreaker
    limiter: RateLimiter
    cache: AnswerCache

    async def admit(self, client: str, key: str | None = None) -> Admitted:
        """The limiter's decision for ``client`` and, when ``key`` is given, the answer cached under it."""
        cached = self.cache.remembered(key) if key is not None else None
        look_up = key if cached is None else None  # what to ask Redis for, if anything
        if self.breaker.is_open:
            if look_up is not None:
                self.cache.passed_over(failed=False)
            return Admitted(await self.limiter.decide_locally(client), cached)
        pipe = self.redis.pipeline(transaction=False)
        limits = self.limiter.queue(pipe, client)
        if look_up is not None:
            self.cache.queue_get(pipe, look_up)
        try:
            replies = await pipe.execute()
        except (RedisError, OSError) as exc:
            self.breaker.failure()
            if look_up is not None:
                self.cache.passed_over(failed=True)
            logger.warning("Redis failed: rate limits counted in process, no cache lookup: %s", exc)
            return Admitted(await self.limiter.decide_locally(client), cached)
        self.breaker.success()
        decision = await self.limiter.decide(client, replies[:limits])
        return Admitted(decision, self.cache.found(replies[limits]) if look_up is not None else cached)
