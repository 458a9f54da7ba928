"""What routes share: the services, and admission by the rate limiter."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from gateway.client_ip import client_ip
from gateway.errors import ApiError
from gateway.metrics import RATE_LIMITED
from gateway.ratelimit import Decision
from gateway.services import Services

T = TypeVar("T")


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services  # built by the app's lifespan (gateway.app.main)
    return services


async def get_services(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain def dependency in its thread pool, a hop on every request
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]


async def rate_limit(request: Request, services: Services) -> Decision:
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


async def admitted(request: Request, services: Services, work: Awaitable[T]) -> tuple[T, Decision]:
    """``work`` (reading the upload, looking up the cache) runs while the rate limiter asks Redis, so a
    cache hit does not wait for the two in turn. A refusal wins over whatever ``work`` found or raised:
    a limited client gets 429 and nothing else, and nothing here calls the model."""
    limiting = asyncio.ensure_future(rate_limit(request, services))  # one task; ``work`` runs in ours
    try:
        outcome = await work
    except BaseException:
        await limiting  # raises the 429 if the limiter refused
        raise
    return outcome, await limiting
