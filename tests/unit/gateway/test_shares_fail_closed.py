"""Share links fail closed where the cache fails open: with Redis refusing every connection, making or
reading a share is a 503 that says so (with Retry-After), and once the breaker is open Redis is not even
asked. tests/integration/gateway/test_shares.py shows classification going on beside it."""

import asyncio
import time

import pytest
from redis.asyncio import Redis

from gateway.breaker import CircuitBreaker
from gateway.errors import ApiError
from gateway.shares import Shares

DEAD = "redis://127.0.0.1:9/0"  # port 9 (discard) on loopback: nothing listens, every call is refused


def test_a_dead_redis_makes_shares_a_503_and_the_breaker_stops_asking_it():
    async def scenario() -> tuple[list[ApiError], ApiError, float]:
        redis = Redis.from_url(DEAD, socket_timeout=0.05, socket_connect_timeout=0.05)
        shares = Shares(redis, CircuitBreaker(failures=2, cooldown_seconds=4.2))
        refused = []
        for attempt in (shares.create(["fromsoft:answer:key"], 3), shares.get("A" * 22)):
            with pytest.raises(ApiError) as failed:
                await attempt
            refused.append(failed.value)
        started = time.perf_counter()
        with pytest.raises(ApiError) as skipped:  # breaker open: no network call at all
            await shares.get("B" * 22)
        elapsed = time.perf_counter() - started
        await redis.aclose()
        return refused, skipped.value, elapsed

    refused, skipped, elapsed = asyncio.run(scenario())
    for error in (*refused, skipped):
        assert (error.status, error.code) == (503, "shares_unavailable")
        assert "classifying still works" in error.message
        assert error.headers == {"Retry-After": "5"}  # the breaker's cool-down, rounded up
    assert elapsed < 0.01
