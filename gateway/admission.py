"""Admission: the client's rate limits, decided from its address alone, before its upload is read, so
that a client over its limit costs one Redis round trip and no upload buffered in memory.

Redis trouble of any kind (refused, timeout, read-only, out of memory, wrong password) fails open: the
limiter counts in process and the request goes on. The breaker, shared with the cache (one Redis),
stops even asking a sick Redis for a while, then lets one request probe it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.breaker import CircuitBreaker
from gateway.ratelimit import Decision, RateLimiter

logger = logging.getLogger(__name__)


@dataclass
class Admission:
    redis: Redis
    breaker: CircuitBreaker
    limiter: RateLimiter

    async def admit(self, client: str, cost: int = 1, taken: int = 0) -> Decision:
        """The limiter's decision for ``client`` on a request worth ``cost`` units, beyond the ``taken``
        it already paid (gateway.ratelimit.units). Every limit is asked on one pipeline: one round trip
        whatever the number of limits."""
        if self.breaker.is_open:
            return await self.limiter.decide_locally(client, cost, taken)
        pipe = self.redis.pipeline(transaction=False)
        self.limiter.queue(pipe, client, cost, taken)
        try:
            replies = await pipe.execute()
        except (RedisError, OSError) as exc:
            self.breaker.failure()
            logger.warning("Redis failed: rate limits counted in process: %s", exc)
            return await self.limiter.decide_locally(client, cost, taken)
        self.breaker.success()
        return await self.limiter.decide(client, replies)
