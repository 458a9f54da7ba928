"""What routes share: the services, who the client is, and the rate limiter's verdict."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from gateway.client_ip import client_ip
from gateway.core.config import Settings
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


def client_of(request: Request, settings: Settings) -> str:
    peer = request.client.host if request.client else None
    return client_ip(peer, request.headers.get("x-forwarded-for"), settings.trusted_proxies)


def enforce(decision: Decision) -> None:
    """A refusal becomes the 429, with Retry-After and the X-RateLimit-* headers."""
    if not decision.allowed:
        RATE_LIMITED.inc()
        raise ApiError(
            429,
            "rate_limited",
            f"too many requests; try again in {decision.reset_seconds} s",
            decision.headers(),
        )


async def prepared(services: Services, client: str, preparing: Awaitable[T]) -> T:
    """What must hold before admission (a valid upload, a known model version). When ``preparing``
    fails instead, the limiter counts the request all the same and a client over its limit gets 429,
    not the failure: a limit holds whatever a client sends, and a limited client learns nothing else."""
    try:
        return await preparing
    except Exception:  # ours (ApiError) or Starlette's (a malformed multipart body is its HTTPException)
        enforce((await services.admission.admit(client)).decision)
        raise
