"""The answer cache writes behind the answer: a real Redis gets the entry a moment later, the worker
that wrote it serves repeats from memory meanwhile, and shutdown writes what is still waiting."""

import asyncio

from redis.asyncio import Redis

from gateway.breaker import CircuitBreaker
from gateway.cache import AnswerCache
from launchers.redis import RedisServer
from tests.support.answers import cached_classification

KEY, ANSWER = cached_classification(b"a screenshot")
DELAY = 0.5  # the production delay is 2 ms; a long one keeps "not yet in Redis" observable under load


async def cache_on(redis_server: RedisServer) -> tuple[Redis, AnswerCache]:
    redis = Redis.from_url(redis_server.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    await redis.ping()  # connected before the clock starts
    return redis, AnswerCache(redis, 60, CircuitBreaker(3, 1), write_behind_seconds=DELAY)


def test_a_new_answer_is_served_at_once_and_reaches_redis_after_the_delay(redis_server):
    async def scenario() -> tuple[object, object, object, object]:
        redis, cache = await cache_on(redis_server)
        cache.put_behind(KEY, ANSWER)
        in_redis_at_once = await redis.get(KEY)
        served_at_once = await cache.get(KEY)
        await asyncio.sleep(DELAY + 0.3)
        in_redis_later = await redis.get(KEY)
        other_worker = AnswerCache(redis, 60, CircuitBreaker(3, 1))
        found_by_other_worker = await other_worker.get(KEY)
        await redis.aclose()
        return in_redis_at_once, served_at_once, in_redis_later, found_by_other_worker

    in_redis_at_once, served_at_once, in_redis_later, found_by_other_worker = asyncio.run(scenario())
    assert in_redis_at_once is None
    assert served_at_once == ANSWER
    assert in_redis_later is not None
    assert found_by_other_worker == ANSWER


def test_shutdown_writes_the_answers_still_waiting(redis_server):
    async def scenario() -> object:
        redis, cache = await cache_on(redis_server)
        cache.put_behind(KEY, ANSWER)
        await cache.flush()  # long before the delay is up
        stored = await redis.get(KEY)
        await redis.aclose()
        return stored

    assert asyncio.run(scenario()) is not None
