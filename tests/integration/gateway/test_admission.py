"""Admission on a real Redis: the rate limits and the cache lookup share one pipeline, the limits stay
exact, and ``limits`` itself reads the windows we write (its script and key layout are the contract
that gateway.ratelimit relies on)."""

import asyncio

import orjson
from limits import parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis

from gateway.admission import Admission, Admitted
from gateway.breaker import CircuitBreaker
from gateway.cache import AnswerCache
from gateway.ratelimit import RateLimiter
from tests.support.redis import RedisServer

ANSWER = {"label": "elden_ring", "name": "Elden Ring", "confidence": 0.8}


def admissions(redis_server: RedisServer, spec: str, calls: list[tuple[str, str | None]]) -> list[Admitted]:
    async def scenario() -> list[Admitted]:
        redis = Redis.from_url(redis_server.url, socket_timeout=0.5, socket_connect_timeout=0.5)
        breaker = CircuitBreaker(3, 1)
        limiter = RateLimiter(spec, redis_server.url, 0.5)
        admission = Admission(redis, breaker, limiter, AnswerCache(redis, 60, breaker))
        await redis.set("answer:stored", orjson.dumps(ANSWER))
        admitted = [await admission.admit(client, key) for client, key in calls]
        await redis.aclose()
        return admitted

    return asyncio.run(scenario())


def test_the_cache_lookup_comes_back_with_the_limiters_decision(redis_server):
    stored, missing = admissions(
        redis_server, "100/minute", [("198.51.100.1", "answer:stored"), ("198.51.100.1", "answer:none")]
    )
    assert (stored.decision.allowed, stored.cached) == (True, ANSWER)
    assert (missing.decision.allowed, missing.cached) == (True, None)


def test_limits_are_exact_per_client_and_a_refusal_carries_its_window(redis_server):
    calls = [("198.51.100.2", "answer:stored")] * 4 + [("198.51.100.3", None)]
    *allowed, refused, other_client = admissions(redis_server, "3/minute;100/hour", calls)
    assert [a.decision.allowed for a in allowed] == [True, True, True]
    assert not refused.decision.allowed
    assert refused.decision.headers()["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(refused.decision.headers()["Retry-After"]) <= 60
    assert other_client.decision.allowed


def test_limits_reads_the_windows_the_pipeline_writes_and_the_other_way_round(redis_server):
    item = parse("5/minute")

    async def scenario() -> tuple[int, bool]:
        redis = Redis.from_url(redis_server.url, socket_timeout=0.5, socket_connect_timeout=0.5)
        breaker = CircuitBreaker(3, 1)
        admission = Admission(
            redis, breaker, RateLimiter("5/minute", redis_server.url, 0.5), AnswerCache(redis, 60, breaker)
        )
        theirs = MovingWindowRateLimiter(RedisStorage("async+" + redis_server.url, implementation="redispy"))
        for _ in range(3):
            await admission.admit("198.51.100.4")
        remaining = (await theirs.get_window_stats(item, "198.51.100.4")).remaining
        for _ in range(2):
            await theirs.hit(item, "198.51.100.4")
        sixth = await admission.admit("198.51.100.4")
        await redis.aclose()
        return remaining, sixth.decision.allowed

    remaining, sixth_allowed = asyncio.run(scenario())
    assert remaining == 2  # three of five taken by our pipeline, as limits sees it
    assert not sixth_allowed  # and two taken by limits itself count against ours
