"""Per-client rate limits on ``limits``' moving windows: counters live in Redis so that every gateway
worker shares them, and fall back to in-process counters while Redis is unavailable.

A request costs units (gateway.api.deps prices it) and takes its whole cost from every limit, or from
none: one Lua script checks every window and only then takes from each, so that a refusal by one limit
(3 a second) never spends another's (10 a minute). ``limits``' own script takes from one window at a
time, which spent a minute's unit on each request the second refused. The windows are ``limits``' own
keys and entries (a list of timestamps, newest first), so that ``limits`` reads them back for the
X-RateLimit-* headers; the pinned ``limits`` version and tests/integration/gateway/test_admission.py keep
the two in step.

A request that paid ahead (before its body was read) and is refused once its whole cost is known gives
back what it paid: each of its entries holds the same timestamp (its ``Charge``'s stamp), removed by
value, so another request's entries are never touched.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, replace
from typing import Any

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from gateway.ratelimit_fields import limit_field, policy_field, window_policy
from gateway.redis_connection import connection_options

# KEYS: one window per limit. ARGV: now, units, the entries to give back on a refusal and their stamp,
# then each limit's size and seconds. Every window must hold ``units`` more, else none takes anything.
ACQUIRE = """
local now, units = tonumber(ARGV[1]), tonumber(ARGV[2])
local back = tonumber(ARGV[3])
for i, key in ipairs(KEYS) do
    local size, seconds = tonumber(ARGV[3 + 2 * i]), tonumber(ARGV[4 + 2 * i])
    local entry = units <= size and redis.call('lindex', key, size - units)
    if units > size or (entry and tonumber(entry) >= now - seconds) then
        if back > 0 then
            for _, k in ipairs(KEYS) do redis.call('lrem', k, back, ARGV[4]) end
        end
        return 0
    end
end
local entries = {}
for n = 1, units do entries[n] = ARGV[1] end
for i, key in ipairs(KEYS) do
    redis.call('lpush', key, unpack(entries))
    redis.call('ltrim', key, 0, tonumber(ARGV[3 + 2 * i]) - 1)
    redis.call('expire', key, tonumber(ARGV[4 + 2 * i]))
end
return 1
"""
# KEYS: the windows. ARGV: how many entries to give back, and their stamp.
RELEASE = """
for _, key in ipairs(KEYS) do redis.call('lrem', key, tonumber(ARGV[1]), ARGV[2]) end
return 1
"""


@dataclass(frozen=True)
class Charge:
    """What an admitted request took from every window, and where: what a later refusal gives back."""

    units: int
    stamp: str  # the timestamp each of its entries holds in Redis
    shared: bool  # taken in Redis; else in this worker's own counts

    def less(self, units: int) -> Charge:
        return replace(self, units=self.units - units)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int | None = None  # None: an allowed request whose window was not read (no headers)
    reset_seconds: int = 0
    charge: Charge | None = None  # what an allowed request took
    policy: str = ""  # the name of the limit it reports (its period), in the RateLimit field
    policies: str = ""  # the RateLimit-Policy field: every limit of the client's

    def headers(self) -> dict[str, str]:
        if self.remaining is None:
            return {}
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_seconds),
            "RateLimit-Policy": self.policies,
            "RateLimit": limit_field([(self.policy, {"r": self.remaining, "t": self.reset_seconds})]),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, self.reset_seconds))
        return headers


class RateLimiter:
    """``report``: read every window for X-RateLimit-* headers on allowed requests too. That is a second
    Redis round trip per request, so it is off by default; a refusal always reads its windows (its 429
    carries Retry-After and the headers). ``namespace``: windows of their own, apart from the client's
    request limits even where a limit is spelled the same (the canary's budget: gateway.canary)."""

    def __init__(
        self, spec: str, redis_url: str, timeout: float, report: bool = False, namespace: str | None = None
    ) -> None:
        try:
            self.items: list[RateLimitItem] = parse_many(spec)
        except ValueError as exc:  # the worker does not start: better than limiting nobody
            raise ValueError(
                f"RATE_LIMIT {spec!r} is not in the limits notation (10/minute;6/second): {exc}"
            ) from None
        self.report = report
        self.namespace = (namespace,) if namespace else ()
        self.policy_field = policy_field(
            [window_policy(period(item), item.amount, item.get_expiry()) for item in self.items]
        )
        shared = RedisStorage("async+" + redis_url, implementation="redispy", **connection_options(timeout))
        self.shared = MovingWindowRateLimiter(shared)
        self.memory = MemoryStorage()
        self.local = MovingWindowRateLimiter(self.memory)
        self._local_turn = asyncio.Lock()  # the in-process check-then-take of every window, one at a time

    @property
    def tightest(self) -> RateLimitItem:
        """The limit with the smallest window: no request may cost more than its size."""
        return min(self.items, key=lambda item: item.amount)

    def _keys(self, client: str) -> list[str]:
        return [f"{RedisStorage.PREFIX}:{item.key_for(*self.namespace, client)}" for item in self.items]

    def queue(self, pipe: Pipeline, client: str, units: int, refund: Charge | None = None) -> Charge:
        """Queue the all-or-nothing acquisition of ``units`` on ``pipe`` (its reply goes to ``decide``); a
        refusal gives ``refund`` back. The charge it makes if allowed."""
        stamp = repr(time.time())
        sizes = [str(value) for item in self.items for value in (item.amount, item.get_expiry())]
        back = refund.units if refund is not None and refund.shared else 0
        back_stamp = refund.stamp if refund is not None else ""
        keys = self._keys(client)
        pipe.eval(ACQUIRE, len(keys), *keys, stamp, units, back, back_stamp, *sizes)
        return Charge(units, stamp, shared=True)

    def queue_release(self, pipe: Pipeline, client: str, refund: Charge) -> None:
        keys = self._keys(client)
        pipe.eval(RELEASE, len(keys), *keys, refund.units, refund.stamp)

    async def decide(self, client: str, reply: Any, charge: Charge) -> Decision:
        """The decision from the acquisition's reply (1 or 0). A verdict Redis gave stands even if reading
        its windows for the headers then fails."""
        return await self._decide(self.shared, client, bool(reply), charge)

    async def decide_locally(self, client: str, units: int = 1, refund: Charge | None = None) -> Decision:
        """In-process counts while Redis is unavailable: each worker counts alone, so looser, never off."""
        ids = (*self.namespace, client)
        async with self._local_turn:
            allowed = all([await self.local.test(item, *ids, cost=units) for item in self.items])
            if allowed:
                for item in self.items:
                    await self.local.hit(item, *ids, cost=units)
        if not allowed and refund is not None:
            await self.release_locally(client, refund)
        return await self._decide(self.local, client, allowed, Charge(units, "", shared=False))

    async def release_locally(self, client: str, refund: Charge) -> None:
        """Give back in this worker's counts: its newest entries (``MemoryStorage`` keeps them newest
        first, one object per entry, no stamp), which count the same and make the window no tighter."""
        if refund.shared:
            return  # taken in Redis, now unreachable: they go when their window does
        async with self._local_turn:
            for item in self.items:
                if events := self.memory.events.get(item.key_for(*self.namespace, client)):
                    del events[: refund.units]

    async def _decide(
        self, limiter: MovingWindowRateLimiter, client: str, allowed: bool, charge: Charge
    ) -> Decision:
        """An allowed request reports the tightest limit; a refusal, of the limits without room for it,
        the one that frees up last."""
        if allowed and not self.report:
            return Decision(True, self.tightest.amount, charge=charge)
        decisions = await asyncio.gather(*(self._read(limiter, item, client, allowed) for item in self.items))
        if not allowed:
            short = [d for d in decisions if d.remaining is None or d.remaining < charge.units]
            return replace(max(short or decisions, key=lambda d: d.reset_seconds), policies=self.policy_field)
        chosen = min(decisions, key=lambda d: d.remaining if d.remaining is not None else d.limit)
        return replace(chosen, charge=charge, policies=self.policy_field)

    async def _read(
        self, limiter: MovingWindowRateLimiter, item: RateLimitItem, client: str, allowed: bool
    ) -> Decision:
        try:
            stats = await limiter.get_window_stats(item, *self.namespace, client)
        except (RedisError, OSError):  # the verdict stands; a refusal's headers then assume the whole window
            return Decision(
                allowed, item.amount, 0 if not allowed else None, item.get_expiry(), policy=period(item)
            )
        reset = math.ceil(max(0.0, stats.reset_time - time.time()))
        return Decision(allowed, item.amount, stats.remaining, reset, policy=period(item))


def period(item: RateLimitItem) -> str:
    """A limit's window in words: "minute", "2 minutes"."""
    name = item.GRANULARITY.name
    return name if item.multiples == 1 else f"{item.multiples} {name}s"
