"""Share links: an unguessable id, made when a visitor asks to share an answer, naming a copy of that
answer in Redis for as long as the cached answer it copies lives.

A link used to be the image's SHA-256, which let anyone holding an image or its hash read whether it was
classified in the last day and the answer. Now a share is made only by someone who sends the image
itself (gateway.use_cases.share), and its id says nothing about the image: 128 bits from ``secrets``, so
guessing one takes about 2^127 tries (the rate limiter allows a client ten a minute). The copy leaves
the SHA-256 out. It expires at the moment the cache entry it was copied from expires (CACHE_TTL_SECONDS
after that answer was cached, at most), so a share never outlives the answer, as the old links did not.

Unlike the cache, shares fail closed: with Redis unreachable or the breaker open, making or reading a
share is a 503 (classification keeps going without the cache, gateway.cache). Every gateway replica
reads the same Redis, so a link made through one is read through any.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from gateway.breaker import CircuitBreaker
from gateway.cache import stored_answer
from gateway.errors import ApiError
from gateway.schemas import ShareCreated, SharedAnswer

logger = logging.getLogger(__name__)

ID_BYTES = 16  # 128 bits: secrets.token_urlsafe writes them as 22 characters
SHARE_ID = re.compile(r"[A-Za-z0-9_-]{22}")
PAGE = "/s/{id}"  # the front end's page for a share (frontend/src/lib/share.ts)


def share_key(share_id: str) -> str:
    return f"fromsoft:share:v1:{share_id}"


def not_found() -> ApiError:
    return ApiError(
        404,
        "not_found",
        "no such share: it never existed, or it expired with the answer it showed (images are never stored)",
    )


def unavailable(retry_after: float) -> ApiError:
    return ApiError(
        503,
        "shares_unavailable",
        "share links are unavailable for a moment (their store cannot be reached); classifying still "
        "works: try sharing again shortly",
        {"Retry-After": str(math.ceil(retry_after))},
    )


class Shares:
    def __init__(self, redis: Redis, breaker: CircuitBreaker) -> None:
        self.redis = redis
        self.breaker = breaker  # the cache's and the limiter's: one Redis

    async def create(self, keys: Sequence[str], top_k: int) -> dict[str, Any]:
        """A share of the first answer cached under ``keys`` (one image's, asked with ``top_k`` games or
        more), cut to ``top_k``; 404 when none is cached."""

        def lookups(pipe: Pipeline) -> None:
            for key in keys:
                pipe.get(key)
                pipe.pexpiretime(key)  # when it expires, Unix ms; negative when gone or never (Redis 7)

        replies = await self._run(lookups)
        for key, raw, expiry_ms in zip(keys, replies[::2], replies[1::2], strict=True):
            if expiry_ms > 0 and (answer := stored_answer(key, raw)) is not None:
                break
        else:
            raise ApiError(
                404,
                "not_found",
                "no answer for this image is cached for the model served now (images are never "
                "stored): classify it, then share it",
            )
        share_id = secrets.token_urlsafe(ID_BYTES)
        # Whole seconds, rounded down: the page never promises a moment the link no longer lives.
        expires = datetime.fromtimestamp(expiry_ms // 1000, UTC)
        shared = SharedAnswer(**{**answer, "top_k": answer["top_k"][:top_k]}, expires_at=expires)
        # The very moment the entry expires, by Redis's clock: the share never outlives the answer.
        await self._run(lambda pipe: pipe.set(share_key(share_id), shared.model_dump_json(), pxat=expiry_ms))
        created = ShareCreated(id=share_id, url=PAGE.format(id=share_id), expires_at=expires)
        return created.model_dump(mode="json")

    async def get(self, share_id: str) -> dict[str, Any]:
        """The shared answer; 404 for an id never made, expired, or whose entry is not a share's."""
        [raw] = await self._run(lambda pipe: pipe.get(share_key(share_id)))
        if raw is None:
            raise not_found()
        try:
            shared = SharedAnswer.model_validate_json(raw)
        except ValidationError:  # whoever can write to Redis could otherwise break or forge a page
            logger.warning("a share's entry is not a shared answer; ignored: %s", share_id)
            raise not_found() from None
        return shared.model_dump(mode="json")

    async def _run(self, queue: Callable[[Pipeline], Any]) -> list[Any]:
        """The replies of the commands ``queue`` puts on one pipeline, or the 503 when Redis cannot
        answer (the breaker counts the failure, as the cache's lookups do)."""
        if self.breaker.is_open:
            raise unavailable(self.breaker.cooldown)
        pipe = self.redis.pipeline(transaction=False)
        queue(pipe)
        try:
            replies = await pipe.execute()
        except (RedisError, OSError) as exc:
            self.breaker.failure()
            logger.warning("redis failed, share links are unavailable: %s", exc)
            raise unavailable(self.breaker.cooldown) from None
        self.breaker.success()
        return list(replies)
