"""The gateway's side of the system of record (store/): votes written from a worker thread (the engine
is synchronous; the event loop never waits on the database), and every way the database can fail turned
into one answer, 503 ``feedback_unavailable`` with Retry-After: down, unreachable, too slow, or behind
the code's schema. Each write is one transaction, so a failure leaves nothing half-written, and
classification, which never touches the database, goes on answering.

Whether the schema is at head is asked once, then remembered; while it is not (or the database is
away) it is asked again at most every ``RECHECK_SECONDS``.

A visitor is a keyed hash of their rate-limit bucket (HMAC-SHA256 under FEEDBACK_KEY_FILE's key): one
vote per image per client without an address in the store, and a key per stack, so that the hashes of
one stack say nothing about another's.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from typing import TypeVar

import anyio
from anyio import to_thread
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from gateway.config import Settings
from gateway.errors import ApiError
from store import revision as schema
from store.engine import describe, make_engine
from store.feedback import Ballot, Judged, Recorded, Shared, record_vote
from store.session import transaction

logger = logging.getLogger(__name__)
RECHECK_SECONDS = 2.0
STATUS_SECONDS = 0.5  # what /readyz waits for the database at most: a probe's timeout is about a second
RETRY_AFTER = {"Retry-After": "5"}
Result = TypeVar("Result")


def unavailable(why: str) -> ApiError:
    return ApiError(
        503, "feedback_unavailable", f"feedback cannot be recorded now ({why}); try again later", RETRY_AFTER
    )


class FeedbackStore:
    def __init__(self, settings: Settings) -> None:
        self.address = settings.database_address()
        self.engine: Engine = make_engine(self.address, pool_size=5, max_overflow=5, pool_timeout=2)
        self.timeout = settings.database_timeout
        key_file = settings.feedback_key_file
        self.key = key_file.read_bytes().strip() if key_file is not None else None
        self._at_head = False
        self._checked_at = -RECHECK_SECONDS
        self._trouble = "not checked yet"
        self._healthy = True  # the last call to the database succeeded
        self._checking = asyncio.Lock()

    def client_id(self, bucket: str) -> str:
        """The keyed hash that stands for the rate-limit bucket ``bucket`` in the store."""
        if not self.key:
            raise unavailable("the gateway has no FEEDBACK_KEY_FILE")
        return hmac.new(self.key, bucket.encode(), hashlib.sha256).hexdigest()

    async def record(self, judged: Judged, ballot: Ballot, image: Shared | None) -> Recorded:
        """The vote, its prediction and the shared image written in one transaction; 503 when not."""
        await self._schema_at_head()

        def write() -> Recorded:
            with transaction(self.engine) as session:
                return record_vote(session, judged, ballot, image)

        return await self._run(write)

    async def status(self) -> str:
        """For /readyz, without holding the probe up: "ok", or why feedback answers 503 now (the last
        call failed, or the schema is behind). Classification does not need the database."""
        with anyio.move_on_after(STATUS_SECONDS):
            try:
                await self._schema_at_head()
            except ApiError:
                return f"unavailable: {self._trouble}"
            return "ok" if self._healthy else f"unavailable: {self._trouble}"
        return f"unavailable: the database did not answer within {STATUS_SECONDS:g} s"

    async def _schema_at_head(self) -> None:
        if self._at_head:
            return
        async with self._checking:  # requests arriving together wait for one check, not fail without it
            if not self._at_head and time.monotonic() - self._checked_at >= RECHECK_SECONDS:
                self._checked_at = time.monotonic()
                revision = await self._run(lambda: schema.current(self.engine))
                self._at_head = revision == schema.HEAD
                if not self._at_head:
                    at = revision or "no revision"
                    self._trouble = f"the database is at {at}, not {schema.HEAD}: run python -m store upgrade"
                    logger.warning("feedback: %s (%s)", self._trouble, describe(self.address))
        if not self._at_head:
            raise unavailable(self._trouble)

    async def _run(self, work: Callable[[], Result]) -> Result:
        """``work`` in a worker thread, within the timeout; any database failure is the 503. A write the
        timeout abandons may still commit later: the client's retry updates the same vote."""
        try:
            with anyio.fail_after(self.timeout):
                result = await to_thread.run_sync(work, abandon_on_cancel=True)
            self._healthy = True
            return result
        except TimeoutError:
            self._trouble = f"the database did not answer within {self.timeout:g} s"
        except SQLAlchemyError as exc:
            self._trouble = f"the database failed: {type(exc).__name__}"
            logger.warning("feedback: %s: %s", describe(self.address), str(exc).splitlines()[0])
        self._checked_at = time.monotonic()
        self._healthy = False
        raise unavailable(self._trouble)

    def close(self) -> None:
        self.engine.dispose()
