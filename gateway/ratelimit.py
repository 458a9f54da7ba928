"""Per-client rate limits with the ``limits`` library's moving window: counters live in Redis so that
every gateway worker shares them, and fall back to in-process counters while Redis is unavailable.

The Redis acquisition is ``limits``' own Lua script on ``limits``' own keys, queued here on a pipeline so
that it shares one round trip with the cache lookup (gateway.admission); ``limits`` reads those windows
back for the X-RateLimit-* headers. The pinned ``limits`` version and
tests/integration/gateway/test_admission.py keep the two in step.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.util import get_package_data
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

ACQUIRE_MOVING_WINDOW = get_package_data("resources/redis/lua_scripts/acquire_moving_window.lua").decode()


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


def units(item: RateLimitItem, cost: int, taken: int = 0) -> int:
    """What a request worth ``cost`` takes from ``item``'s window, when it already took ``taken`` units
    (a batch pays for its files once it has read them): never more than the whole window all told, so
    a costly request (an explanation, a batch) can still be made under a tight limit such as 3/second."""
    return max(0, min(cost, item.amount - taken))


class RateLimiter:
    """``report``: read every window for X-RateLimit-* headers on allowed requests too. That is a second
    Redis round trip per request, so it is off by default; a refusal always reads its windows (its 429
    carries Retry-After and the headers)."""

    def __init__(self, spec: str, redis_url: str, timeout: float, report: bool = False) -> None:
        try:
            self.items: list[RateLimitItem] = parse_many(spec)
        except ValueError as exc:  # the worker does not start: better than limiting nobody
            raise ValueError(
                f"RATE_LIMIT {spec!r} is not in the limits notation (10/minute;3/second): {exc}"
            ) from None
        self.report = report
        shared = RedisStorage(
            "async+" + redis_url,
            implementation="redispy",
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
        self.shared = MovingWindowRateLimiter(shared)
        self.local = MovingWindowRateLimiter(MemoryStorage())

    def queue(self, pipe: Pipeline, client: str, cost: int = 1, taken: int = 0) -> None:
        """Queue one acquisition per limit on ``pipe``; their replies go to ``decide``."""
        now = time.time()
        for item in self.items:
            key = f"{RedisStorage.PREFIX}:{item.key_for(client)}"
            amount = units(item, cost, taken)
            pipe.eval(ACQUIRE_MOVING_WINDOW, 1, key, now, item.amount, item.get_expiry(), amount)

    async def decide(self, client: str, replies: Sequence[Any]) -> Decision:
        """The decision from the queued acquisitions' replies (the script answers 1, or nil for no). A
        verdict Redis gave stands even if reading its window for the headers then fails."""
        return await self._decide(self.shared, client, [bool(reply) for reply in replies])

    async def decide_locally(self, client: str, cost: int = 1, taken: int = 0) -> Decision:
        """In-process counts while Redis is unavailable: each worker counts alone, so looser, never off."""
        acquired = [await self.local.hit(item, client, cost=units(item, cost, taken)) for item in self.items]
        return await self._decide(self.local, client, acquired)

    async def _decide(self, limiter: MovingWindowRateLimiter, client: str, acquired: list[bool]) -> Decision:
        """Every limit must allow the request. A refusal reports the limit that frees up last, an
        allowed request the tightest."""
        if all(acquired) and not self.report:
            return Decision(True, min(item.amount for item in self.items))
        decisions = await asyncio.gather(
            *(self._read(limiter, item, client, ok) for item, ok in zip(self.items, acquired, strict=True))
        )
        refused = [d for d in decisions if not d.allowed]
        if refused:
            return max(refused, key=lambda d: d.reset_seconds)
        return min(decisions, key=lambda d: d.remaining if d.remaining is not None else d.limit)

    async def _read(
        self, limiter: MovingWindowRateLimiter, item: RateLimitItem, client: str, allowed: bool
    ) -> Decision:
        try:
            stats = await limiter.get_window_stats(item, client)
        except (RedisError, OSError):  # the verdict stands; a refusal's headers then assume the whole window
            return Decision(allowed, item.amount, 0 if not allowed else None, item.get_expiry())
        reset = math.ceil(max(0.0, stats.reset_time - time.time()))
        return Decision(allowed, item.amount, stats.remaining, reset)
