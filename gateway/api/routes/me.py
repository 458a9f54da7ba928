"""GET /api/v1/me: the calling API key, its limits and its use now (401 without a key). It costs
nothing: a client may ask before each burst of work."""

from __future__ import annotations

from fastapi import APIRouter, Request

from gateway.api.deps import ServicesDep
from gateway.api.keyed import identify, unavailable
from gateway.api_keys import invalid
from gateway.key_limits import KeyLimitsUnavailableError
from gateway.request_context import current
from gateway.schemas import ErrorBody, KeyLimitsView, KeyUsageView, KeyView

router = APIRouter(prefix="/api/v1")


@router.get(
    "/me",
    response_model=KeyView,
    responses={
        401: {"model": ErrorBody, "description": "no API key, or one that is malformed, unknown or revoked"},
        503: {"model": ErrorBody, "description": "the key store or Redis cannot be asked now"},
    },
)
async def me(request: Request, services: ServicesDep) -> KeyView:
    key = await identify(request, services)
    if key is None:
        raise invalid("send your API key (X-API-Key: fsl_..., or Authorization: Bearer fsl_...)")
    try:
        standing = await services.key_limits.peek(key)
    except KeyLimitsUnavailableError as exc:
        raise unavailable(key, exc) from None
    if (context := current()) is not None:
        context.standing = standing
    limits = key.limits
    return KeyView(
        key=key.id,
        scopes=list(limits.scopes),
        created_at=key.created_at,
        expires_at=key.revoked_at,
        limits=KeyLimitsView(
            rate=limits.rate, burst=limits.burst, daily=limits.daily, concurrency=limits.concurrency
        ),
        usage=KeyUsageView(
            daily_used=standing.used,
            daily_reserved=standing.reserved,
            daily_remaining=standing.quota_left,
            daily_resets_in=standing.quota_reset,
            rate_remaining=standing.rate_left,
            rate_full_in=standing.rate_reset,
            in_flight=limits.concurrency - standing.places_left,
        ),
    )
