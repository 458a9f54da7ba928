"""Who sent a keyed request: its API key (``X-API-Key``, or ``Authorization: Bearer``) looked up by its
prefix in the store and checked against the stored keyed hash (store.api_keys).

Rows are read through a small in-process cache, never from the database on every request: a row is
read again once it is API_KEY_CACHE_SECONDS old (10 s), so a revocation, or the end of a rotation's
grace, takes effect on every gateway within that. Unknown prefixes are cached too (a client retrying a
mistyped key asks the database once per period), the cache holds at most ``MAX_KEYS`` rows, and requests
that arrive together for one prefix wait for one read. A key that is malformed, unknown, revoked or
wrong is a 401 ``invalid_api_key``, never a fall back to the address's limits; a database that cannot
answer is a 503 for keyed requests (anonymous ones do not need it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import anyio
from anyio import to_thread
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from gateway.errors import ApiError
from store import api_keys
from store.api_keys import KeyLimits
from store.session import transaction

logger = logging.getLogger(__name__)
KEY_HEADER = "x-api-key"
MAX_KEYS = 10_000  # rows and unknown prefixes kept at most: a few MB, whatever prefixes are sent
UNAVAILABLE_RETRY = {"Retry-After": "5"}


@dataclass(frozen=True)
class Key:
    """A key's row, as the gateway enforces it."""

    prefix: str
    name: str
    secret_hash: str
    limits: KeyLimits
    created_at: datetime
    revoked_at: datetime | None

    @property
    def id(self) -> str:
        """Its public id, ``fsl_<prefix>``: what metrics, logs and votes name."""
        return api_keys.public_id(self.prefix)

    @property
    def seconds_per_unit(self) -> float:
        units, seconds = api_keys.parse_rate(self.limits.rate)
        return seconds / units


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request carries, if any: X-API-Key first, else an Authorization Bearer token."""
    if (key := headers.get(KEY_HEADER)) is not None:
        return key.strip()
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def invalid(why: str) -> ApiError:
    return ApiError(401, "invalid_api_key", why, {"WWW-Authenticate": 'Bearer realm="api"'})


class KeyBook:
    def __init__(self, engine: Engine, pepper: bytes | None, ttl: float, timeout: float) -> None:
        self.engine = engine
        self.pepper = pepper
        self.ttl = ttl
        self.timeout = timeout
        self._rows: dict[str, tuple[float, Key | None]] = {}
        self._reading: dict[str, asyncio.Future[Key | None]] = {}

    async def identify(self, presented: str) -> Key:
        """The key ``presented`` is, if it is a live one; else the 401, or the 503 when the store cannot
        say."""
        if self.pepper is None:
            raise invalid("this service issues no API keys; send the request without one")
        prefix = api_keys.prefix_of(presented)
        if prefix is None:
            raise invalid("the API key is malformed: keys look like fsl_<8 characters>_<43 characters>")
        key = await self._row(prefix)
        if key is None or not api_keys.matches(self.pepper, presented, key.secret_hash):
            raise invalid("the API key is not known")
        if key.revoked_at is not None and key.revoked_at <= datetime.now(key.revoked_at.tzinfo):
            raise invalid(f"the API key {key.id} is revoked")
        return key

    async def _row(self, prefix: str) -> Key | None:
        cached = self._rows.get(prefix)
        if cached is not None and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        if (reading := self._reading.get(prefix)) is not None:
            return await asyncio.shield(reading)
        future: asyncio.Future[Key | None] = asyncio.get_running_loop().create_future()
        self._reading[prefix] = future
        try:
            key = await self._read(prefix)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so that no waiter-less future is logged as lost
            raise
        finally:
            del self._reading[prefix]
        future.set_result(key)
        self._keep(prefix, key)
        return key

    def _keep(self, prefix: str, key: Key | None) -> None:
        self._rows.pop(prefix, None)
        self._rows[prefix] = (time.monotonic(), key)
        while len(self._rows) > MAX_KEYS:
            del self._rows[next(iter(self._rows))]  # the oldest read

    async def _read(self, prefix: str) -> Key | None:
        def read() -> Key | None:
            with transaction(self.engine) as session:
                row = api_keys.find(session, prefix)
                if row is None:
                    return None
                return Key(
                    row.prefix,
                    row.name,
                    row.secret_hash,
                    KeyLimits.of(row),
                    row.created_at,
                    row.revoked_at,
                )

        try:
            with anyio.fail_after(self.timeout):
                return await to_thread.run_sync(read, abandon_on_cancel=True)
        except TimeoutError:
            why = f"the key store did not answer within {self.timeout:g} s"
        except SQLAlchemyError as exc:
            why = f"the key store failed: {type(exc).__name__}"
            logger.warning("api keys: %s", str(exc).splitlines()[0])
        raise ApiError(503, "keys_unavailable", f"API keys cannot be checked now ({why})", UNAVAILABLE_RETRY)
