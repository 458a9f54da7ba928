"""What routes share: the services, who the client is, and admission by the rate limiter, priced.

A request costs units (one per 4K frame of pixels, started; EXPLAIN_COST for an explanation; a batch
the sum of its files') and takes its whole cost from every limit. A request whose cost exceeds the
tightest limit's window could never pass, so it is refused at once with a 429 ``cost_exceeds_limit``
and no Retry-After (waiting never helps; clients must not retry it), before its body is read when its
least cost already exceeds it. Otherwise the least cost is taken before the body (so that a client over
its limit never makes the gateway buffer an upload) and the rest once the body is read. A request
refused at that second step keeps one unit, because its body was read (else a client could have
bodies read for free), and the rest of what it paid ahead goes back to the client.

A request with an API key is held to its key's limits instead of its address's (gateway.api.keyed): the
same prices, and its route's scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from gateway.api.keyed import Keyed, admit_key, identify, require_scope, settle_key
from gateway.client_ip import EDGE_KEY_HEADER, client_ip, limit_key
from gateway.errors import ApiError
from gateway.metrics import RATE_LIMITED
from gateway.ratelimit import Decision, period
from gateway.request_context import current
from gateway.services import Services
from inference.formats import COST_EXCEEDS_LIMIT

NEVER = "the limits of this service do not allow it"
Paid = Decision | Keyed  # what an admitted request took: from its address's windows, or its key's


@dataclass(frozen=True)
class Priced:
    """What a request is, in the words of its refusals: ``what`` costs so much, and what to send instead
    when that is more than a window holds, once its body is read (``advice``) or before (``ahead``)."""

    what: str = "this request"
    advice: str = NEVER
    ahead: str = NEVER
    files: int | None = None  # a batch's, which a 429 names with what is left of the client's budget


IMAGE = Priced("this image", "send a smaller image")
EXPLANATION = Priced("this explanation", "send a smaller image")


def batch(files: int | None) -> Priced:
    what = f"this batch of {files} files" if files is not None else "this batch"
    return Priced(what, "send fewer or smaller images", "send fewer files", files)


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services  # built by the app's lifespan (gateway.main)
    return services


async def get_services(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain def dependency in its thread pool, a hop on every request
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]


def client_of(request: Request, services: Services) -> str:
    """The client's rate-limit bucket: its address (believed from X-Forwarded-For only when the edge
    sent it), an IPv6 address by its /64."""
    peer = request.client.host if request.client else None
    edge = services.edge
    from_edge = edge.sent(peer, request.headers.get(EDGE_KEY_HEADER))
    forwarded_for = request.headers.get("x-forwarded-for") if from_edge else None
    return limit_key(client_ip(peer, forwarded_for, edge.proxies))


async def admit(
    request: Request, services: Services, cost: int = 1, priced: Priced = Priced(), scope: str | None = None
) -> Paid:
    """Before anything else about the request is read: its least ``cost`` taken from every limit, or
    the 429 (Retry-After, X-RateLimit-*), or the 429 ``cost_exceeds_limit`` when no window holds it. With
    an API key: the key checked (401), its ``scope`` (403), then its key's limits."""
    if (key := await identify(request, services)) is not None:
        if scope is not None:
            require_scope(scope)
        return await admit_key(services, key, cost, priced.what, priced.ahead)
    _within_every_window(services, cost, priced.what, priced.ahead)
    client = client_of(request, services)
    if (context := current()) is not None:
        context.client = client
    decision = await services.admission.admit(client, cost)
    if not decision.allowed:
        raise _rate_limited(decision, cost, priced)
    return decision


async def settle(
    request: Request, services: Services, paid: Paid, cost: int, priced: Priced, refundable: bool = True
) -> Paid:
    """Once the body is read and the request's whole ``cost`` known: the rest of it taken beyond what
    ``admit`` took. Refused, the request keeps one unit and gives the rest of what it paid back, unless
    the work it paid for ahead is done (``refundable`` False: an image fetched by URL). A key's budget
    settles by its own rules (gateway.api.keyed)."""
    if isinstance(paid, Keyed):
        return await settle_key(services, paid, cost, priced.what, priced.advice, priced.files)
    charge = paid.charge
    if charge is None or cost <= charge.units:
        return paid
    client = client_of(request, services)
    refund = charge.less(1 if refundable else charge.units)
    try:
        _within_every_window(services, cost, priced.what, priced.advice)
    except ApiError:
        await services.admission.release(client, refund)
        raise
    decision = await services.admission.admit(client, cost - charge.units, refund)
    if not decision.allowed:
        raise _rate_limited(decision, cost, priced)
    return decision


def paid_units(paid: Paid) -> int | None:
    """How many units a request has paid so far; None where nothing was counted (Redis away, failing
    open)."""
    if isinstance(paid, Keyed):
        return paid.lease.units
    return paid.charge.units if paid.charge is not None else None


def _within_every_window(services: Services, cost: int, what: str, advice: str) -> None:
    tightest = services.admission.limiter.tightest
    if cost > tightest.amount:
        RATE_LIMITED.inc()
        message = (
            f"{what} costs {cost} units; the limit allows {tightest.amount} per {period(tightest)}: {advice}"
        )
        raise ApiError(429, COST_EXCEEDS_LIMIT, message)


def _rate_limited(decision: Decision, cost: int, priced: Priced) -> ApiError:
    RATE_LIMITED.inc()
    wait = f"try again in {decision.reset_seconds} s"
    if priced.files is None:
        message = f"too many requests; {wait}"
    elif not (left := decision.remaining or 0):
        message = f"{priced.what} costs {cost} units and none are left in this window; {wait}"
    else:
        message = (
            f"{priced.what} costs {cost} units and only {left} are left in this window: send at most {left} "
            f"files now, or {wait}"
        )
    return ApiError(429, "rate_limited", message, decision.headers())
