"""Admission fails open: with Redis refusing every connection, requests are let through on in-process
counts and without a cache lookup, and once the breaker opens Redis is not even asked."""

import asyncio
import time

from redis.asyncio import Redis

from gateway.admission import Admission, Admitted
from gateway.breaker import CircuitBreaker
from gateway.cache import AnswerCache
from gateway.ratelimit import RateLimiter

DEAD = "redis://127.0.0.1:9/0"  # port 9 (discard) on loopback: nothing listens, every call is refused


def test_a_dead_redis_fails_open_and_the_breaker_stops_asking_it():
    async def scenario() -> tuple[list[Admitted], float, Admitted]:
        redis = Redis.from_url(DEAD, socket_timeout=0.05, socket_connect_timeout=0.05)
        breaker = CircuitBreaker(failures=2, cooldown_seconds=60)
        admission = Admission(
            redis, breaker, RateLimiter("2/minute", DEAD, 0.05), AnswerCache(redis, 60, breaker)
        )
        failing = [await admission.admit("203.0.113.7", "key") for _ in range(2)]
        started = time.perf_counter()
        skipped = await admission.admit("203.0.113.7", "key")  # breaker open: no network call at all
        elapsed = time.perf_counter() - started
        await redis.aclose()
        return failing, elapsed, skipped

    failing, elapsed, skipped = asyncio.run(scenario())
    assert all(a.decision.allowed and a.cached is None for a in failing)
    assert elapsed < 0.01
    assert not skipped.decision.allowed  # the third request in a minute, counted in process
    assert skipped.cached is None
