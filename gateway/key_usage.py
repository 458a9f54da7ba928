"""The end of a keyed request (gateway.api.keyed), whatever answered it: the route, an error handler, or
a failure. Plain ASGI, as gateway.in_flight is.

- Every answer to a request whose key was checked carries the key's ``RateLimit-Policy`` and
  ``RateLimit`` fields (gateway.ratelimit_fields), its errors and 429s included.
- Before the answer's last byte goes out, the request's place in flight is freed, and its units are
  counted against the daily quota when it was answered (2xx; a batch's answered files only): a client
  that sends its next request the moment it reads an answer never finds its own finished request still
  holding a place.
"""

from __future__ import annotations

from typing import Any

import anyio

from gateway.api_keys import Key
from gateway.key_limits import Standing
from gateway.metrics import KEY_ANSWERED_UNITS
from gateway.ratelimit_fields import key_policies, limit_field, policy_field
from gateway.request_context import RequestContext, current


def rate_limit_headers(key: Key, standing: Standing) -> list[tuple[bytes, bytes]]:
    limits = key.limits
    policies = key_policies(limits.burst, key.seconds_per_unit, limits.daily, limits.concurrency)
    left = limit_field(
        [
            ("rate", {"r": standing.rate_left, "t": standing.rate_reset}),
            ("daily", {"r": standing.quota_left, "t": standing.quota_reset}),
            ("concurrency", {"r": standing.places_left}),
        ]
    )
    return [(b"ratelimit-policy", policy_field(policies).encode()), (b"ratelimit", left.encode())]


class KeyUsage:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        context = current()
        if scope["type"] != "http" or context is None or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        status = 0

        async def send_and_settle(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if context.key is not None and context.standing is not None:
                    message["headers"] = [
                        *message.get("headers", ()),
                        *rate_limit_headers(context.key, context.standing),
                    ]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                await _finish(scope, context, 200 <= status < 300)
            await send(message)

        try:
            await self.app(scope, receive, send_and_settle)
        finally:
            with anyio.CancelScope(shield=True):  # a place is freed even for a request cut short
                await _finish(scope, context, False)


async def _finish(scope: dict[str, Any], context: RequestContext, answered: bool) -> None:
    lease, context.lease = context.lease, None
    if lease is None:
        return
    units = context.answered_units if context.answered_units is not None else lease.units
    await scope["app"].state.services.key_limits.finish(lease, answered, units)
    if answered and units:
        KEY_ANSWERED_UNITS.labels(lease.key.id).inc(min(units, lease.units))
