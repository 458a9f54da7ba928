"""Admission and the cache on a real Redis: the limits stay exact per client whatever a request costs,
``limits`` itself reads the windows we write (its script and key layout are the contract that
gateway.ratelimit relies on), and the cache gives back what it stored."""

import asyncio

import orjson
from limits import parse, parse_many
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis

from gateway.admission import Admission
from gateway.breaker import CircuitBreaker
from gateway.cache import AnswerCache
from gateway.ratelimit import Decision, RateLimiter
from launchers.redis import RedisServer
from tests.support.answers import cached_classification

KEY, ANSWER = cached_classification(b"a screenshot", "elden_ring", "Elden Ring")
GARBAGE_KEY, _ = cached_classification(b"another screenshot")


def admissions(redis_server: RedisServer, spec: str, calls: list[tuple[str, int]]) -> list[Decision]:
    """The decisions on ``calls`` of (client, cost), in order."""

    async def scenario() -> list[Decision]:
        redis = Redis.from_url(redis_server.url, socket_timeout=0.5, socket_connect_timeout=0.5)
        admission = Admission(redis, CircuitBreaker(3, 1), RateLimiter(spec, redis_server.url, 0.5))
        decisions = [await admission.admit(client, cost) for client, cost in calls]
        await redis.aclose()
        return decisions

    return asyncio.run(scenario())


def test_limits_are_exact_per_client_and_a_refusal_carries_its_window(redis_server):
    calls = [("198.51.100.2", 1)] * 4 + [("198.51.100.3", 1)]
    *allowed, refused, other_client = admissions(redis_server, "3/minute;100/hour", calls)
    assert [d.allowed for d in allowed] == [True, True, True]
    assert not refused.allowed
    assert refused.headers()["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(refused.headers()["Retry-After"]) <= 60
    assert other_client.allowed


def windows_left(redis_server: RedisServer, spec: str, client: str) -> list[int]:
    """What ``limits`` itself reads is left in each of the client's windows."""

    async def read() -> list[int]:
        theirs = MovingWindowRateLimiter(RedisStorage("async+" + redis_server.url, implementation="redispy"))
        return [(await theirs.get_window_stats(item, client)).remaining for item in parse_many(spec)]

    return asyncio.run(read())


def test_a_costly_request_takes_its_whole_cost_from_every_window_or_from_none(redis_server):
    spec = "10/minute;6/second"
    first, second_at_once = admissions(redis_server, spec, [("198.51.100.5", 5), ("198.51.100.5", 5)])
    assert first.allowed
    assert not second_at_once.allowed  # the second's window holds 1 more, not 5
    assert windows_left(redis_server, spec, "198.51.100.5") == [5, 1]  # the refusal took nothing


def test_a_request_refused_after_paying_ahead_gets_back_all_but_one_unit(redis_server):
    spec = "6/minute;20/hour"
    client = "198.51.100.6"

    async def scenario() -> tuple[bool, bool]:
        redis = Redis.from_url(redis_server.url, socket_timeout=0.5, socket_connect_timeout=0.5)
        admission = Admission(redis, CircuitBreaker(3, 1), RateLimiter(spec, redis_server.url, 0.5))
        paid = (await admission.admit(client, 4)).charge
        other = await admission.admit(client, 1)  # another request of the client's, between the two steps
        assert paid is not None
        assert other.allowed
        rest = await admission.admit(client, 3, refund=paid.less(1))  # 8 of 6: refused
        await redis.aclose()
        return rest.allowed, other.allowed

    refused_allowed, _ = asyncio.run(scenario())
    assert not refused_allowed
    assert windows_left(redis_server, spec, client) == [4, 18]  # its one unit and the other's stay


def test_limits_reads_the_windows_the_pipeline_writes_and_the_other_way_round(redis_server):
    item = parse("5/minute")

    async def scenario() -> tuple[int, bool]:
        redis = Redis.from_url(redis_server.url, socket_timeout=0.5, socket_connect_timeout=0.5)
        admission = Admission(redis, CircuitBreaker(3, 1), RateLimiter("5/minute", redis_server.url, 0.5))
        theirs = MovingWindowRateLimiter(RedisStorage("async+" + redis_server.url, implementation="redispy"))
        for _ in range(3):
            await admission.admit("198.51.100.4")
        remaining = (await theirs.get_window_stats(item, "198.51.100.4")).remaining
        for _ in range(2):
            await theirs.hit(item, "198.51.100.4")
        sixth = await admission.admit("198.51.100.4")
        await redis.aclose()
        return remaining, sixth.allowed

    remaining, sixth_allowed = asyncio.run(scenario())
    assert remaining == 2  # three of five taken by our pipeline, as limits sees it
    assert not sixth_allowed  # and two taken by limits itself count against ours


def test_the_cache_gives_back_what_is_stored_and_nothing_for_garbage(redis_server):
    async def scenario() -> tuple[object, object, object]:
        redis = Redis.from_url(redis_server.url, socket_timeout=0.5, socket_connect_timeout=0.5)
        cache = AnswerCache(redis, 60, CircuitBreaker(3, 1))
        await redis.set(KEY, orjson.dumps(ANSWER))
        await redis.set(GARBAGE_KEY, b"\x00not json")
        found = (
            await cache.get(KEY),
            await cache.get(cached_classification(b"never seen")[0]),
            await cache.get(GARBAGE_KEY),
        )
        await redis.aclose()
        return found

    assert asyncio.run(scenario()) == (ANSWER, None, None)
