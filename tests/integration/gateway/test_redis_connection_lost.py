"""A Redis connection that uvloop has closed under redis-py is a Redis failure like any other: the cache
misses and the limiter counts in process, on the loop the gateway runs (uvloop), against a real Redis.

The fault is real, not faked: the pooled connection's transport is closed beneath redis-py, as when Redis
dies mid-connect (tests/e2e/test_soak.py met it as a 500). On uvloop redis-py's next write then meets
"the handler is closed", a ``RuntimeError``, where asyncio's loop gives an ``OSError``."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, cast

import uvloop
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.admission import Admission
from gateway.breaker import CircuitBreaker
from gateway.cache import AnswerCache
from gateway.ratelimit import RateLimiter
from gateway.redis_connection import redis_client
from launchers.redis import RedisServer
from tests.support.answers import cached_classification

KEY, ANSWER = cached_classification(b"a screenshot")


async def close_beneath(redis: Redis, connections: int = 1) -> None:
    """Open ``connections`` pooled connections, then close their transports without telling redis-py:
    they still count as connected."""
    await redis.ping()
    opened = [await redis.connection_pool.get_connection() for _ in range(connections)]
    for connection in opened:
        await connection.connect()
        connection._writer.transport.close()
        await redis.connection_pool.release(connection)


def on_a_lost_connection(
    redis_server: RedisServer, use: Callable[[Redis], Awaitable[object]], connections: int = 1
) -> object:
    async def scenario() -> object:
        redis = redis_client(redis_server.url, 0.5)
        await close_beneath(redis, connections)
        try:
            return await use(redis)
        finally:
            await redis.aclose()

    return uvloop.run(scenario())


def test_a_write_on_a_transport_uvloop_closed_raises_a_redis_connection_error(redis_server):
    async def get(redis: Redis) -> object:
        try:
            await redis.get(KEY)
        except RedisConnectionError as exc:
            return exc
        return None

    assert isinstance(on_a_lost_connection(redis_server, get), RedisConnectionError)


def test_the_cache_misses_and_counts_a_failure_then_reads_again_on_a_new_connection(redis_server):
    breaker = CircuitBreaker(3, 1)

    async def read_twice(redis: Redis) -> tuple[object, int, object]:
        cache = AnswerCache(redis, 60, breaker)
        first = await cache.get(KEY)
        failures = breaker.failures
        await cache.put(KEY, ANSWER)
        return first, failures, await cache.get(KEY)

    first, failures, second = on_a_lost_connection(redis_server, read_twice)  # type: ignore[misc]
    assert first is None
    assert failures == 1
    assert second == ANSWER


def test_the_limiter_decides_in_process_when_its_redis_connection_is_lost(redis_server):
    breaker = CircuitBreaker(3, 1)

    async def admit(redis: Redis) -> object:
        admission = Admission(redis, breaker, RateLimiter("5/minute", redis_server.url, 0.5))
        return await admission.admit("198.51.100.7")

    decision = on_a_lost_connection(redis_server, admit)
    assert decision.allowed  # type: ignore[attr-defined]
    assert breaker.failures == 1


def test_concurrent_cache_reads_and_admissions_on_lost_connections_all_fail_open(redis_server, caplog):
    """As the gateway meets it under load: many requests at once, each on a pooled connection Redis
    dropped, cache reads and admissions interleaved. Each is a miss or an in-process decision; none raises."""
    breaker = CircuitBreaker(100, 1)  # never opens here: every call goes to Redis

    async def mixed(redis: Redis) -> list[object]:
        cache = AnswerCache(redis, 60, breaker)
        admission = Admission(redis, breaker, RateLimiter("1000/minute", redis_server.url, 0.5))
        calls = [cache.get(f"{KEY}:{i}") if i % 2 else admission.admit(f"198.51.100.{i}") for i in range(16)]
        return await asyncio.gather(*calls, return_exceptions=True)

    results = cast(list[Any], on_a_lost_connection(redis_server, mixed, connections=8))
    assert not [r for r in results if isinstance(r, BaseException)]
    assert results[1::2] == [None] * 8
    assert all(decision.allowed for decision in results[::2])
    lost = [r for r in caplog.records if "Redis connection lost" in r.getMessage()]
    assert len(lost) == 8  # each dropped connection failed one call; the others got fresh connections
