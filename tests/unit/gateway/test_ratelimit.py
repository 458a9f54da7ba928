"""The limiter's decisions with several limits at once, on its in-process counts (the Redis-backed path
is pinned by tests/integration/gateway/test_admission.py and across two gateway workers)."""

import asyncio

from http_sf import parse as parse_sf
from limits import parse

from gateway.ratelimit import Charge, RateLimiter


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


def test_a_refusal_by_one_limit_takes_nothing_from_the_others():
    limiter = RateLimiter("3/second;5/minute", "redis://127.0.0.1:1/0", 0.05)

    async def run() -> tuple[list[bool], int]:
        allowed = [(await limiter.decide_locally("203.0.113.9")).allowed for _ in range(4)]
        minute = await limiter.local.get_window_stats(parse("5/minute"), "203.0.113.9")
        return allowed, minute.remaining

    allowed, minute_left = asyncio.run(run())
    assert allowed == [True, True, True, False]
    assert minute_left == 2  # the fourth, refused by the second's limit, spent none of the minute's


def test_what_a_refused_request_paid_ahead_goes_back_to_its_windows():
    limiter = RateLimiter("6/minute;20/hour", "redis://127.0.0.1:1/0", 0.05)

    async def run() -> tuple[bool, list[int]]:
        paid = (await limiter.decide_locally("203.0.113.10", 4)).charge
        assert paid is not None
        rest = await limiter.decide_locally("203.0.113.10", 3, refund=paid.less(1))  # 7 of 6: refused
        windows = [await limiter.local.get_window_stats(item, "203.0.113.10") for item in limiter.items]
        return rest.allowed, [window.remaining for window in windows]

    allowed, left = asyncio.run(run())
    assert not allowed
    assert left == [5, 19]  # one unit kept in each window, three given back


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
    refused = asyncio.run(limiter.decide("203.0.113.8", 0, Charge(1, "0", shared=True)))  # the script said no
    assert not refused.allowed
    assert refused.headers()["X-RateLimit-Remaining"] == "0"
    assert refused.headers()["Retry-After"] == "60"  # the whole window, at worst


def test_a_refusal_carries_the_ietf_ratelimit_fields_naming_every_limit_and_the_one_that_refused():
    *_, refused = decisions("3/second;5/minute", 4, report=False)
    headers = refused.headers()
    policies = parse_sf(headers["RateLimit-Policy"].encode(), tltype="list")
    assert policies == [("second", {"q": 3, "w": 1}), ("minute", {"q": 5, "w": 60})]
    [(name, left)] = parse_sf(headers["RateLimit"].encode(), tltype="list")
    assert (name, left["r"]) == ("second", 0)
    assert 0 <= left["t"] <= int(headers["Retry-After"])
