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
from gateway.ratelimit import Charge, Decision, RateLimiter

logger = logging.getLogger(__name__)


@dataclass
class Admission:
    redis: Redis
    breaker: CircuitBreaker
    limiter: RateLimiter

    async def admit(self, client: str, units: int = 1, refund: Charge | None = None) -> Decision:
        """The limiter's decision for ``client`` on ``units`` more, taken from every limit or from none
        (gateway.ratelimit); a refusal gives ``refund`` back (what the request paid ahead). One round
        trip whatever the number of limits."""
        if self.breaker.is_open:
            return await self.limiter.decide_locally(client, units, refund)
        pipe = self.redis.pipeline(transaction=False)
        charge = self.limiter.queue(pipe, client, units, refund)
        try:
            [reply] = await pipe.execute()
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return await self.limiter.decide_locally(client, units, refund)
        self.breaker.success()
        if not reply and refund is not None and not refund.shared:
            await self.limiter.release_locally(client, refund)  # paid while Redis was away
        return await self.limiter.decide(client, reply, charge)

    async def release(self, client: str, refund: Charge) -> None:
        """Give ``refund`` back to ``client``'s windows, where it was taken."""
        if not refund.units:
            return
        if not refund.shared:
            await self.limiter.release_locally(client, refund)
            return
        if self.breaker.is_open:
            return  # Redis away: the entries go when their window does
        pipe = self.redis.pipeline(transaction=False)
        self.limiter.queue_release(pipe, client, refund)
        try:
            await pipe.execute()
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return
        self.breaker.success()

    def _failed(self, exc: Exception) -> None:
        self.breaker.failure()
        logger.warning("Redis failed: rate limits counted in process: %s", exc)
