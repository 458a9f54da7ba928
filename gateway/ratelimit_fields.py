"""The IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers): ``RateLimit-Policy`` names each
limit a client is held to and its size, ``RateLimit`` says what is left of each now and in how many
seconds (``t``) more frees up. Both are structured-field lists (RFC 9651), written by ``http_sf``.

An address's limits are its windows, named by their period ("minute", "second"), sent where the
X-RateLimit-* headers are (on a 429, and on every answer with RATE_LIMIT_HEADERS). A key's are its rate
("rate": its burst, refilled over ``w`` seconds), its rolling daily quota ("daily") and its places in
flight ("concurrency", in concurrent-requests), on every answer to a keyed request.
"""

from __future__ import annotations

from typing import Any, cast

from http_sf import ser

Policy = tuple[str, dict[str, Any]]
DAY_SECONDS = 86400


def policy_field(policies: list[Policy]) -> str:
    """``RateLimit-Policy``: each policy's name, quota ``q`` and window ``w`` or unit ``qu``."""
    return str(ser(cast(Any, policies)))  # http_sf's own types are invariant lists of its values


def limit_field(limits: list[Policy]) -> str:
    """``RateLimit``: each policy's name, what is left ``r``, and ``t``, the seconds until more is."""
    return str(ser(cast(Any, limits)))


def window_policy(name: str, amount: int, seconds: int) -> Policy:
    return name, {"q": amount, "w": max(1, seconds)}


def key_policies(burst: int, seconds_per_unit: float, daily: int, concurrency: int) -> list[Policy]:
    return [
        window_policy("rate", burst, round(burst * seconds_per_unit)),
        window_policy("daily", daily, DAY_SECONDS),
        ("concurrency", {"q": concurrency, "qu": "concurrent-requests"}),
    ]
