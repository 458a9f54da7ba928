import hashlib
import time

import pytest

from gateway.breaker import CircuitBreaker
from gateway.cache import cache_key, image_digest
from gateway.ratelimit import RateLimiter


def test_cache_key_changes_with_every_input_that_changes_the_answer():
    """A re-exported archive under the same version (another digest) never meets its predecessor's answers."""
    digest = image_digest(b"image bytes")
    base = cache_key(digest, "fromsoft", "1.0", "e1192af13e3b", "abc", 3)
    assert digest == hashlib.sha256(b"image bytes").hexdigest()
    variants = [
        cache_key(image_digest(b"other bytes"), "fromsoft", "1.0", "e1192af13e3b", "abc", 3),
        cache_key(digest, "other", "1.0", "e1192af13e3b", "abc", 3),
        cache_key(digest, "fromsoft", "2.0", "e1192af13e3b", "abc", 3),
        cache_key(digest, "fromsoft", "1.0", "9ae98536f156", "abc", 3),
        cache_key(digest, "fromsoft", "1.0", "e1192af13e3b", "def", 3),
        cache_key(digest, "fromsoft", "1.0", "e1192af13e3b", "abc", 5),
    ]
    assert len({base, *variants}) == 7
    assert cache_key(digest, "fromsoft", "1.0", "e1192af13e3b", "abc", 3) == base


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


@pytest.mark.parametrize("spec", ["10/fortnight", "ten/minute", ""])
def test_a_malformed_rate_limit_stops_the_gateway_at_start_with_the_setting_named(spec):
    """A typo in RATE_LIMIT must not start a gateway that limits nobody."""
    with pytest.raises(ValueError, match="RATE_LIMIT"):
        RateLimiter(spec, "redis://127.0.0.1:1/0", 0.05)


def test_every_limit_of_the_setting_is_enforced():
    limiter = RateLimiter("2/minute;5/hour", "redis://127.0.0.1:1/0", 0.05)
    assert [(item.amount, item.get_expiry()) for item in limiter.items] == [(2, 60), (5, 3600)]
