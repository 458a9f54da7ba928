"""What routes share: the services, who the client is, and admission by the rate limiter."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.client_ip import EDGE_KEY_HEADER, client_ip, limit_key
from gateway.errors import ApiError
from gateway.metrics import RATE_LIMITED
from gateway.ratelimit import Decision
from gateway.services import Services


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
    request: Request, services: Services, cost: int = 1, taken: int = 0, files: int | None = None
) -> Decision:
    """The limiter's decision on this client; a refusal becomes the 429 (Retry-After, X-RateLimit-*)
    before anything else about the request is read. ``files``: the batch's, which the 429 names with
    what is left of the client's budget."""
    decision = await services.admission.admit(client_of(request, services), cost, taken)
    if not decision.allowed:
        RATE_LIMITED.inc()
        raise ApiError(429, "rate_limited", _refused(decision, cost + taken, files), decision.headers())
    return decision


def _refused(decision: Decision, cost: int, files: int | None) -> str:
    wait = f"try again in {decision.reset_seconds} s"
    if files is None:
        return f"too many requests; {wait}"
    left = decision.remaining or 0
    batch = f"this batch of {files} files costs {cost} requests and "
    if left == 0:
        return f"{batch}none are left in this window; {wait}"
    return f"{batch}only {left} are left in this window: send at most {left} files now, or {wait}"
