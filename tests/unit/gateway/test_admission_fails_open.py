"""Admission and the cache fail open: with Redis refusing every connection, requests are let through on
in-process counts and without a cache lookup, and once the breaker opens Redis is not even asked."""

import asyncio
import time

from redis.asyncio import Redis

from gateway.admission import Admission
from gateway.breaker import CircuitBreaker
from gateway.cache import AnswerCache
from gateway.ratelimit import Decision, RateLimiter

DEAD = "redis://127.0.0.1:9/0"  # port 9 (discard) on loopback: nothing listens, every call is refused


def test_a_dead_redis_fails_open_and_the_breaker_stops_asking_it():
    async def scenario() -> tuple[list[Decision], list[object], float, Decision, object]:
        redis = Redis.from_url(DEAD, socket_timeout=0.05, socket_connect_timeout=0.05)
        breaker = CircuitBreaker(failures=2, cooldown_seconds=60)
        admission = Admission(redis, breaker, RateLimiter("2/minute", DEAD, 0.05))
        cache = AnswerCache(redis, 60, breaker)
        failing = [await admission.admit("203.0.113.7") for _ in range(2)]
        looked_up = [await cache.get("key") for _ in range(2)]
        started = time.perf_counter()
        skipped = await admission.admit("203.0.113.7")  # breaker open: no network call at all
        not_looked_up = await cache.get("key")
        elapsed = time.perf_counter() - started
        await redis.aclose()
        return failing, looked_up, elapsed, skipped, not_looked_up

    failing, looked_up, elapsed, skipped, not_looked_up = asyncio.run(scenario())
    assert all(d.allowed for d in failing)
    assert looked_up == [None, None]
    assert elapsed < 0.01
    assert not skipped.allowed  # the third request in a minute, counted in process
    assert not_looked_up is None
