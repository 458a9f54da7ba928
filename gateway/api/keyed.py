"""Admission of a request that carries an API key (gateway.api_keys): its scope, then its key's rate,
daily quota and concurrency (gateway.key_limits), priced as gateway.api.deps prices every request. A key
replaces the address's limits; it never adds to them.

A request's least cost is taken before its body is read, with a place in flight, and the rest once its
body is read, as for an address. Refused, it answers 429 with Retry-After: ``rate_limited`` (the
burst is spent), ``quota_exhausted`` (the rolling daily quota is; Retry-After says when enough of it
leaves the 24 hours), or ``concurrency_limited`` (the key's places are all taken). A request costing more
than the key's burst or daily quota is ``cost_exceeds_limit``, without Retry-After. While Redis cannot
be asked, every keyed request is a 503 ``keys_unavailable``: a key's concurrency is never exceeded.

The scope check is ``require_scope``, callable by any route once it knows what the request asks for (an
image by URL: SCOPE_URL).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from gateway.api_keys import Key, presented_key
from gateway.errors import ApiError
from gateway.key_limits import KeyLimitsUnavailableError, Lease, Standing
from gateway.metrics import KEY_REFUSALS, KEY_REQUESTS, RATE_LIMITED, UNKNOWN_KEY
from gateway.request_context import current
from gateway.services import Services
from inference.formats import COST_EXCEEDS_LIMIT, QUOTA_EXHAUSTED
from store.api_keys import SCOPE_BATCH, SCOPE_CLASSIFY, SCOPE_FEEDBACK, SCOPE_URL

DOING = {
    SCOPE_CLASSIFY: "classify or explain single images",
    SCOPE_BATCH: "send batches",
    SCOPE_URL: "send images by URL",
    SCOPE_FEEDBACK: "send feedback",
}
UNAVAILABLE_RETRY = {"Retry-After": "5"}


@dataclass(frozen=True)
class Keyed:
    """What a keyed request paid: its lease (its place and its reserved units)."""

    lease: Lease

    def headers(self) -> dict[str, str]:
        return {}  # gateway.key_usage writes the key's RateLimit fields on every answer it gets


async def identify(request: Request, services: Services) -> Key | None:
    """The live key the request carries (noted for its answer), None without one; else a 401 or 503."""
    presented = presented_key(request.headers)
    if presented is None:
        return None
    try:
        key = await services.keys.identify(presented)
    except ApiError as exc:
        KEY_REFUSALS.labels(UNKNOWN_KEY, "invalid" if exc.status == 401 else "unavailable").inc()
        raise
    KEY_REQUESTS.labels(key.id).inc()
    if (context := current()) is not None:
        context.key, context.client = key, key.id
    return key


def require_scope(scope: str) -> None:
    """A 403 ``insufficient_scope`` when the request's key may not do ``scope``. Requests without a key
    are held to their address's limits, and no scope."""
    context = current()
    key = context.key if context is not None else None
    if key is None or scope in key.limits.scopes:
        return
    KEY_REFUSALS.labels(key.id, "scope").inc()
    raise ApiError(
        403,
        "insufficient_scope",
        f"the API key {key.id} may not {DOING[scope]} (its scopes: {', '.join(key.limits.scopes)}); "
        f"ask for a key with the scope {scope}",
    )


def _within_key(key: Key, cost: int, what: str, advice: str) -> None:
    limits = key.limits
    for most, name in ((limits.burst, "at once"), (limits.daily, "in 24 hours")):
        if cost > most:
            KEY_REFUSALS.labels(key.id, "cost").inc()
            RATE_LIMITED.inc()
            message = f"{what} costs {cost} units; the API key {key.id} allows {most} {name}: {advice}"
            raise ApiError(429, COST_EXCEEDS_LIMIT, message)


def _noted(standing: Standing) -> Standing:
    if (context := current()) is not None:
        context.standing = standing
    return standing


def unavailable(key: Key, exc: KeyLimitsUnavailableError) -> ApiError:
    KEY_REFUSALS.labels(key.id, "unavailable").inc()
    return ApiError(
        503,
        "keys_unavailable",
        f"the API key's limits cannot be checked now ({exc}); try again shortly",
        UNAVAILABLE_RETRY,
    )


async def admit_key(services: Services, key: Key, cost: int, what: str, ahead: str) -> Keyed:
    _within_key(key, cost, what, ahead)
    try:
        standing, lease = await services.key_limits.acquire(key, cost)
    except KeyLimitsUnavailableError as exc:
        raise unavailable(key, exc) from None
    _noted(standing)
    if lease is None:
        raise _refused(key, standing, cost, what, None)
    if (context := current()) is not None:
        context.lease = lease
    return Keyed(lease)


async def settle_key(
    services: Services, paid: Keyed, cost: int, what: str, advice: str, files: int | None
) -> Keyed:
    """The rest of ``cost`` beyond what ``admit_key`` took. Refused, the request keeps one unit of its
    rate (its body was read) and gives back the rest; a request over the key's whole burst or quota keeps
    what it paid ahead."""
    lease = paid.lease
    if cost <= lease.units:
        return paid
    _within_key(lease.key, cost, what, advice)
    try:
        standing = _noted(await services.key_limits.extend(lease, cost - lease.units, lease.units - 1))
    except KeyLimitsUnavailableError as exc:
        raise unavailable(lease.key, exc) from None
    if not standing.admitted:
        raise _refused(lease.key, standing, cost, what, files)
    return paid


def _refused(key: Key, standing: Standing, cost: int, what: str, files: int | None) -> ApiError:
    KEY_REFUSALS.labels(key.id, standing.reason).inc()
    RATE_LIMITED.inc()
    wait = f"try again in {standing.wait} s"
    headers = {"Retry-After": str(max(1, standing.wait))}
    if standing.reason == "quota":
        message = (
            f"the API key {key.id}'s daily quota of {key.limits.daily} units is spent: {standing.quota_left} "
            f"are left in the last 24 hours and {what} costs {cost}; {wait}"
        )
        return ApiError(429, QUOTA_EXHAUSTED, message, headers)
    if standing.reason == "concurrency":
        message = (
            f"the API key {key.id} has {key.limits.concurrency} requests in flight already, its most: send "
            "the next when one is answered"
        )
        return ApiError(429, "concurrency_limited", message, headers)
    if files is not None and standing.rate_left:
        message = (
            f"{what} costs {cost} units and only {standing.rate_left} are left to the API key {key.id} now: "
            f"send at most {standing.rate_left} files now, or {wait}"
        )
    else:
        message = f"too many requests for the API key {key.id}; {wait}"
    return ApiError(429, "rate_limited", message, headers)
