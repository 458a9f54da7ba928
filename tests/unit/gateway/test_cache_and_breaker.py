import hashlib
import time

import pytest

from gateway.breaker import CircuitBreaker
from gateway.cache import cache_key, image_digest


def test_cache_key_changes_with_every_input_that_changes_the_answer():
    digest = image_digest(b"image bytes")
    base = cache_key(digest, "fromsoft", "1.0", "abc", 3)
    assert digest == hashlib.sha256(b"image bytes").hexdigest()
    variants = [
        cache_key(image_digest(b"other bytes"), "fromsoft", "1.0", "abc", 3),
        cache_key(digest, "other", "1.0", "abc", 3),
        cache_key(digest, "fromsoft", "2.0", "abc", 3),
        cache_key(digest, "fromsoft", "1.0", "def", 3),
        cache_key(digest, "fromsoft", "1.0", "abc", 5),
    ]
    assert len({base, *variants}) == 6
    assert cache_key(digest, "fromsoft", "1.0", "abc", 3) == base


def test_breaker_opens_after_repeated_failures_then_half_opens_after_the_cooldown():
    breaker = CircuitBreaker(failures=3, cooldown_seconds=0.05)
    for _ in range(2):
        breaker.failure()
    assert not breaker.is_open
    breaker.failure()
    assert breaker.is_open
    time.sleep(0.06)
    assert not breaker.is_open  # one probe goes through
    breaker.failure()
    assert breaker.is_open  # the probe failed: open again at once
    time.sleep(0.06)
    assert not breaker.is_open
    breaker.success()
    assert breaker.failures == 0


@pytest.mark.parametrize(("raw", "expected"), [("10/minute;3/second", 2), ("5/second", 1)])
def test_rate_limit_strings_use_the_limits_notation(raw, expected):
    from limits import parse_many

    assert len(parse_many(raw)) == expected
