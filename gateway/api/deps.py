"""Dependencies injected into routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.client_ip import client_ip
from gateway.errors import ApiError
from gateway.metrics import RATE_LIMITED
from gateway.ratelimit import Decision
from gateway.services import Services


def get_services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(get_services)]


async def rate_limit(request: Request, services: ServicesDep) -> Decision:
    peer = request.client.host if request.client else None
    ip = client_ip(peer, request.headers.get("x-forwarded-for"), services.settings.trusted_proxies)
    decision = await services.limiter.hit(ip)
    if not decision.allowed:
        RATE_LIMITED.inc()
        raise ApiError(
            429,
            "rate_limited",
            f"too many requests; try again in {decision.reset_seconds} s",
            decision.headers(),
        )
    return decision


RateLimitDep = Annotated[Decision, Depends(rate_limit)]
