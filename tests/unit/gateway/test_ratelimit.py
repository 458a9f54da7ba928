"""The limiter's decisions with several limits at once, on its in-process counts (the Redis-backed path
is pinned by tests/integration/gateway/test_admission.py and across two gateway workers)."""

import asyncio

from gateway.ratelimit import RateLimiter


def decisions(spec: str, count: int, report: bool = True) -> list:
    limiter = RateLimiter(spec, "redis://127.0.0.1:1/0", 0.05, report=report)

    async def run() -> list:
        return [await limiter.decide_locally("203.0.113.7") for _ in range(count)]

    return asyncio.run(run())


def test_an_allowed_request_reports_the_tightest_limit():
    first, second, third, fourth = decisions("3/second;5/minute", 4)
    assert [d.allowed for d in (first, second, third, fourth)] == [True, True, True, False]
    assert (first.limit, first.remaining) == (3, 2)
    assert (third.limit, third.remaining) == (3, 0)
    assert fourth.headers()["Retry-After"] == "1"


def test_a_refusal_reports_the_limit_that_frees_up_last():
    _, refused = decisions("1/minute;1/hour", 2)
    assert not refused.allowed
    assert refused.limit == 1
    assert refused.reset_seconds > 60
    assert int(refused.headers()["Retry-After"]) > 60


def test_without_reporting_only_a_refusal_reads_its_window_and_carries_headers():
    allowed, refused = decisions("1/minute", 2, report=False)
    assert allowed.allowed
    assert allowed.headers() == {}
    assert not refused.allowed
    assert refused.headers()["X-RateLimit-Remaining"] == "0"
    assert int(refused.headers()["Retry-After"]) >= 1


def test_a_refusal_redis_gave_stands_when_its_window_cannot_be_read():
    limiter = RateLimiter("5/minute", "redis://127.0.0.1:1/0", 0.05)  # nothing listens: the read fails
    refused = asyncio.run(limiter.decide("203.0.113.8", [None]))  # the acquisition script said no
    assert not refused.allowed
    assert refused.headers()["X-RateLimit-Remaining"] == "0"
    assert refused.headers()["Retry-After"] == "60"  # the whole window, at worst
