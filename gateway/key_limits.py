"""An API key's limits, held in Redis so that every gateway and worker shares one budget per key: a rate
with a burst, a rolling daily quota of answered units, and a cap on requests in flight. Each step is
one Lua script, so it is atomic across replicas, and reads Redis's clock, so gateways whose clocks
differ agree.

- **Rate**: GCRA (a token bucket kept as one timestamp): ``burst`` units at once, refilled at the
  key's rate. A request takes its whole cost or nothing.
- **Daily quota**: units of answered (2xx) requests in the last 24 hours, counted per minute. A request
  reserves its cost when admitted and the reservation counts against the quota until it ends; only an
  answered request's units are then counted, so failures cost no quota, and no number of requests at
  once can take more than is left.
- **Concurrency**: a lease per request, in a sorted set scored by when it lapses. The gateway renews its
  leases every third of API_KEY_LEASE_SECONDS while they run, so that a killed gateway's places free
  themselves within that, and a request never holds a place it could lose.

Without Redis none of this can be shared, and a key's concurrency must never be exceeded: keyed
requests fail closed, 503 ``keys_unavailable`` with Retry-After, while the address's limits fail open.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.api_keys import Key
from gateway.breaker import CircuitBreaker

logger = logging.getLogger(__name__)

# Shared by every script. KEYS: the rate's timestamp, the answered units per minute (a hash with a
# "total" field), those minutes (a sorted set), the leases (sorted set: id -> when it lapses) and the
# units each lease holds (hash).
PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local DAY_MINUTES = 1440
local function lapse_leases()
    local gone = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now)
    if #gone > 0 then
        redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
        redis.call('HDEL', KEYS[5], unpack(gone))
    end
end
local function held()
    local units = 0
    for _, v in ipairs(redis.call('HVALS', KEYS[5])) do units = units + tonumber(v) end
    return units
end
local function answered()
    local cutoff = math.floor(now / 60) - DAY_MINUTES
    local old = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', cutoff)
    if #old > 0 then
        local drop = 0
        for _, v in ipairs(redis.call('HMGET', KEYS[2], unpack(old))) do drop = drop + (tonumber(v) or 0) end
        redis.call('HINCRBY', KEYS[2], 'total', -drop)
        redis.call('HDEL', KEYS[2], unpack(old))
        redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', cutoff)
    end
    return tonumber(redis.call('HGET', KEYS[2], 'total') or '0')
end
local function quota_wait(free, units)
    local minutes = redis.call('ZRANGE', KEYS[3], 0, -1)
    for _, m in ipairs(minutes) do
        free = free + tonumber(redis.call('HGET', KEYS[2], m) or '0')
        if free >= units then return (tonumber(m) + DAY_MINUTES) * 60 - now end
    end
    return 1
end
local function quota_reset()
    local first = redis.call('ZRANGE', KEYS[3], 0, 0)
    if #first == 0 then return 86400 end
    return (tonumber(first[1]) + DAY_MINUTES) * 60 - now
end
-- What every answer reports: units left at once and seconds until the burst is whole again; quota left
-- and seconds until its oldest minute leaves the window; places left.
local function report(tat, per_unit, burst, quota_free, places, verdict, wait)
    local left = math.floor((now + burst * per_unit - tat) / per_unit + 1e-9)
    local reset = math.ceil(quota_reset())
    return {verdict, left, math.ceil(tat - now), quota_free, reset, places, math.ceil(wait)}
end
"""
# ARGV: lease id, units, seconds per unit, burst, daily quota, concurrency, lease seconds. Verdicts: 1
# admitted, 2 refused by the quota, 3 by the rate, 4 by concurrency; refused, nothing is taken.
ACQUIRE = (
    PRELUDE
    + """
local lease, units = ARGV[1], tonumber(ARGV[2])
local per_unit, burst, daily = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local concurrency, lease_seconds = tonumber(ARGV[6]), tonumber(ARGV[7])
lapse_leases()
local quota_free = daily - answered() - held()
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local rate_wait = tat + units * per_unit - burst * per_unit - now
local places = concurrency - redis.call('ZCARD', KEYS[4])
if units > quota_free then
    return report(tat, per_unit, burst, quota_free, places, 2, quota_wait(quota_free, units))
elseif rate_wait > 1e-6 then
    return report(tat, per_unit, burst, quota_free, places, 3, rate_wait)
elseif places < 1 then
    return report(tat, per_unit, burst, quota_free, places, 4, 1)
end
tat = tat + units * per_unit
redis.call('SET', KEYS[1], tostring(tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
redis.call('ZADD', KEYS[4], now + lease_seconds, lease)
redis.call('HSET', KEYS[5], lease, units)
redis.call('PEXPIRE', KEYS[4], math.ceil(lease_seconds * 2000))
redis.call('PEXPIRE', KEYS[5], math.ceil(lease_seconds * 2000))
return report(tat, per_unit, burst, quota_free - units, places - 1, 1, 0)
"""
)
# The rest of a request's cost, once its body is read. ARGV as ACQUIRE's, then the units to give back
# to the rate when refused (all it paid but one: its body was read). A lease that lapsed takes a place
# again if there is one.
EXTEND = (
    PRELUDE
    + """
local lease, units = ARGV[1], tonumber(ARGV[2])
local per_unit, burst, daily = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local concurrency, lease_seconds, back = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
lapse_leases()
local quota_free = daily - answered() - held()
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local rate_wait = tat + units * per_unit - burst * per_unit - now
local mine = redis.call('HGET', KEYS[5], lease)
local places = concurrency - redis.call('ZCARD', KEYS[4])
local verdict = 1
if units > quota_free then verdict = 2
elseif rate_wait > 1e-6 then verdict = 3
elseif not mine and places < 1 then verdict = 4 end
if verdict ~= 1 then
    if back > 0 then
        tat = math.max(tat - back * per_unit, now)
        redis.call('SET', KEYS[1], tostring(tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
    end
    local wait = verdict == 2 and quota_wait(quota_free, units) or (verdict == 3 and rate_wait or 1)
    return report(tat, per_unit, burst, quota_free, places, verdict, wait)
end
tat = tat + units * per_unit
redis.call('SET', KEYS[1], tostring(tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
if not mine then
    redis.call('ZADD', KEYS[4], now + lease_seconds, lease)
    places = places - 1
end
redis.call('HINCRBY', KEYS[5], lease, units)
return report(tat, per_unit, burst, quota_free - units, places, 1, 0)
"""
)
# ARGV: lease id, the units it was admitted for, 1 when it was answered (2xx). Its place is freed and an
# answered request's units are counted in this minute.
FINISH = (
    PRELUDE
    + """
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
local units = tonumber(ARGV[2])
if ARGV[3] == '1' and units > 0 then
    local minute = math.floor(now / 60)
    redis.call('HINCRBY', KEYS[2], minute, units)
    redis.call('HINCRBY', KEYS[2], 'total', units)
    redis.call('ZADD', KEYS[3], minute, minute)
    redis.call('EXPIRE', KEYS[2], 86400 + 120)
    redis.call('EXPIRE', KEYS[3], 86400 + 120)
end
return 1
"""
)
# ARGV: per unit, burst, daily, concurrency. What /me reports, taking nothing.
PEEK = (
    PRELUDE
    + """
local per_unit, burst, daily = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
lapse_leases()
local used, reserved = answered(), held()
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local places = tonumber(ARGV[4]) - redis.call('ZCARD', KEYS[4])
local answer = report(tat, per_unit, burst, daily - used - reserved, places, 1, 0)
table.insert(answer, used)
table.insert(answer, reserved)
return answer
"""
)
# ARGV: lease seconds, then lease ids: each still held is pushed back.
RENEW = """
local t = redis.call('TIME')
local until_ = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', until_, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) * 2000))
return 1
"""
VERDICTS = {1: "admitted", 2: "quota", 3: "rate", 4: "concurrency"}


@dataclass(frozen=True)
class Standing:
    """A key's budget after a step: what the RateLimit fields and /me report."""

    reason: str  # admitted, or what refused: quota, rate, concurrency
    rate_left: int
    rate_reset: int  # seconds until the whole burst is back
    quota_left: int
    quota_reset: int  # seconds until the oldest counted minute leaves the 24 hours
    places_left: int
    wait: int  # a refusal's Retry-After
    used: int = 0  # PEEK only: units answered in the last 24 hours
    reserved: int = 0  # PEEK only: units of requests in flight

    @classmethod
    def of(cls, reply: list[Any]) -> Standing:
        values = [int(v) for v in reply]
        return cls(VERDICTS[values[0]], *(max(0, v) for v in values[1:]))

    @property
    def admitted(self) -> bool:
        return self.reason == "admitted"


class KeyLimitsUnavailableError(Exception):
    """Redis did not answer: a keyed request cannot be admitted (gateway.api.deps answers 503)."""


@dataclass
class Lease:
    """A keyed request's place and reservation, from its admission to its answer."""

    key: Key
    id: str
    units: int = 0  # reserved against the quota: its cost so far


class KeyLimits:
    def __init__(self, redis: Redis, breaker: CircuitBreaker, lease_seconds: float) -> None:
        self.redis = redis
        self.breaker = breaker
        self.lease_seconds = lease_seconds
        self._acquire = redis.register_script(ACQUIRE)
        self._extend = redis.register_script(EXTEND)
        self._finish = redis.register_script(FINISH)
        self._peek = redis.register_script(PEEK)
        self._renew = redis.register_script(RENEW)
        self.live: dict[str, Lease] = {}  # this worker's leases, renewed while they run

    @staticmethod
    def _keys(key: Key) -> list[str]:
        tag = f"fsl:key:{{{key.prefix}}}"  # one hash slot per key, should Redis ever be a cluster
        return [f"{tag}:tat", f"{tag}:answered", f"{tag}:minutes", f"{tag}:leases", f"{tag}:held"]

    def _limits(self, key: Key) -> list[Any]:
        limits = key.limits
        return [repr(key.seconds_per_unit), limits.burst, limits.daily, limits.concurrency]

    async def _call(self, script: Any, key: Key, args: list[Any]) -> Any:
        if self.breaker.is_open:
            raise KeyLimitsUnavailableError("Redis is skipped after repeated failures")
        try:
            reply = await script(keys=self._keys(key), args=args)
        except (RedisError, OSError) as exc:
            self.breaker.failure()
            raise KeyLimitsUnavailableError(str(exc)) from None
        self.breaker.success()
        return reply

    async def acquire(self, key: Key, units: int) -> tuple[Standing, Lease | None]:
        """Take ``units`` and a place for a new request, or nothing; its lease when admitted."""
        lease = Lease(key, os.urandom(12).hex(), units)
        args = [lease.id, units, *self._limits(key), self.lease_seconds]
        standing = Standing.of(await self._call(self._acquire, key, args))
        if not standing.admitted:
            return standing, None
        self.live[lease.id] = lease
        return standing, lease

    async def extend(self, lease: Lease, units: int, back: int) -> Standing:
        """``units`` more for an admitted request; refused, ``back`` of what it paid returns to its rate."""
        key = lease.key
        args = [lease.id, units, *self._limits(key), self.lease_seconds, back]
        standing = Standing.of(await self._call(self._extend, key, args))
        if standing.admitted:
            lease.units += units
        return standing

    async def finish(self, lease: Lease, answered: bool, units: int | None = None) -> None:
        """The request is over: its place freed, and its units (``units`` when it says fewer were
        answered: a batch's failed files) counted when it was answered. A Redis that fails here leaves the
        place to lapse and the units uncounted."""
        self.live.pop(lease.id, None)
        counted = lease.units if units is None else min(units, lease.units)
        try:
            await self._call(self._finish, lease.key, [lease.id, counted, 1 if answered else 0])
        except KeyLimitsUnavailableError as exc:
            logger.warning("api keys: %s's lease not freed (it lapses): %s", lease.key.id, exc)

    async def peek(self, key: Key) -> Standing:
        return Standing.of(await self._call(self._peek, key, self._limits(key)))

    async def renew_forever(self) -> None:
        """Push back the lapse of every lease this worker holds, every third of their lifetime."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            by_key: dict[str, list[Lease]] = {}
            for lease in list(self.live.values()):
                by_key.setdefault(lease.key.prefix, []).append(lease)
            for leases in by_key.values():
                key = leases[0].key
                ids = [lease.id for lease in leases]
                try:
                    await self._renew(keys=self._keys(key)[3:4], args=[self.lease_seconds, *ids])
                except (RedisError, OSError) as exc:
                    logger.warning("api keys: %d leases of %s not renewed: %s", len(leases), key.id, exc)
