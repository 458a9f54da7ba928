"""Per-client rate limits with the ``limits`` library: counters live in Redis so that every gateway
worker shares them, and fall back to in-process counters while Redis is unavailable."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.exceptions import RedisError

from gateway.breaker import CircuitBreaker

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int | None = None  # None: an allowed request whose window was not read (no headers)
    reset_seconds: int = 0

    def headers(self) -> dict[str, str]:
        if self.remaining is None:
            return {}
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, self.reset_seconds))
        return headers


class RateLimiter:
    """``report``: read every window for X-RateLimit-* headers on allowed requests too. That is a second
    Redis round trip per limit and request, so it is off by default; a refusal always reads its window
    (its 429 carries Retry-After and the headers)."""

    def __init__(
        self, spec: str, redis_url: str, timeout: float, breaker: CircuitBreaker, report: bool = False
    ) -> None:
        self.items: list[RateLimitItem] = parse_many(spec)
        self.report = report
        shared = RedisStorage(
            "async+" + redis_url,
            implementation="redispy",
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
        self.shared = MovingWindowRateLimiter(shared)
        self.local = MovingWindowRateLimiter(MemoryStorage())
        self.breaker = breaker

    async def hit(self, client: str) -> Decision:
        if not self.breaker.is_open:
            try:
                decision = await self._hit(self.shared, client)
            except (RedisError, OSError, ConnectionError, TimeoutError) as exc:
                self.breaker.failure()
                logger.warning("rate limiter falls back to in-process counts: %s", exc)
            else:
                self.breaker.success()
                return decision
        return await self._hit(self.local, client)

    async def _hit(self, limiter: MovingWindowRateLimiter, client: str) -> Decision:
        """Every limit must allow the request. The limits are asked concurrently; a refusal reports the
        limit that frees up last, an allowed request the tightest."""
        outcomes = await asyncio.gather(
            *(self._one(limiter, item, client) for item in self.items), return_exceptions=True
        )
        decisions = []
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
            decisions.append(outcome)
        refused = [d for d in decisions if not d.allowed]
        if refused:
            return max(refused, key=lambda d: d.reset_seconds)
        return min(decisions, key=lambda d: d.limit if d.remaining is None else d.remaining)

    async def _one(self, limiter: MovingWindowRateLimiter, item: RateLimitItem, client: str) -> Decision:
        allowed = await limiter.hit(item, client)
        if allowed and not self.report:
            return Decision(allowed, item.amount)
        stats = await limiter.get_window_stats(item, client)
        reset = math.ceil(max(0.0, stats.reset_time - time.time()))
        return Decision(allowed, item.amount, stats.remaining, reset)
