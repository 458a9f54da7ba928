"""A canary answered in the shadow of the default: for a cache miss whose image falls inside the canary's
share (inference.canary.shadowed, by a keyed hash of its SHA-256 under a secret every replica reads from
Redis), the visitor gets the default's answer as always, and the canary's answer to the same image is
asked in the background and compared by its top-1 label ("Not recognised" counts as a label).

A canary never slows a visitor: at most CANARY_CONCURRENCY shadow calls run at once per worker, none
while the worker holds three quarters of MAX_IN_FLIGHT, and a call not made is counted as skipped. Nor
does it let one client weigh on it: each client's images feed at most CANARY_CLIENT_LIMIT comparisons
(a budget of their own, on the limiter's windows), which bounds the model calls a client's traffic adds
and its say in `promote`'s verdict. The visitor is never charged for a shadow call: its cost would show
in the client's own limits and tell it which of its images are compared. Outcomes are counted in this
worker's metrics and, for every replica together, in Redis (inference.canary), which `python -m ops.models
promote` and the models view read."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Histogram
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.admission import Admission
from gateway.breaker import CircuitBreaker
from gateway.drift import CONFIDENCE_BUCKETS
from gateway.errors import ApiError
from gateway.in_flight import LOAD
from gateway.model_state import ModelState
from gateway.request_context import current
from gateway.schemas import checked
from gateway.upstream import TorchServeClient
from gateway.validation import Upload
from inference.answers import HandlerClassification
from inference.canary import SECRET_BYTES, SECRET_KEY, UNKNOWN_OF, Figures, counters_key, shadowed
from inference.labels import UNKNOWN_LABEL
from inference.replica_status import Canary

logger = logging.getLogger(__name__)
BUSY_SHARE = 0.75  # of MAX_IN_FLIGHT in use: no shadow call then
KEEP_SECONDS = 30 * 86400  # the counters of a canary nobody looks at any more go away
SECRET_READ_SECONDS = 5.0  # how long a worker trusts the sample's secret it read before reading it again

COMPARISONS = Counter(
    "gateway_canary_comparisons_total",
    "A canary's answers against the default's: agree, disagree (top-1 label), error, skipped (under load), "
    "over_budget (the client's images had fed CANARY_CLIENT_LIMIT comparisons)",
    ["model", "candidate", "outcome"],
)
CANDIDATE_CONFIDENCE = Histogram(
    "gateway_canary_confidence",
    "The calibrated confidence of the canary's answers",
    ["model", "candidate"],
    buckets=CONFIDENCE_BUCKETS,
)


@dataclass
class SampleSecret:
    """The key of the sample (inference.canary.SECRET_KEY), as this worker last read it from Redis: made there
    by the first gateway that needs it, so that every replica shares one without an operator's setting."""

    redis: Redis
    breaker: CircuitBreaker
    value: bytes | None = None
    read_at: float = float("-inf")
    reading: asyncio.Task[bytes | None] | None = None

    def known(self) -> bytes | None:
        """The secret last read (None before the first read), reading it again in the background when
        it is older than SECRET_READ_SECONDS."""
        if self.reading is None and time.monotonic() - self.read_at > SECRET_READ_SECONDS:
            self.reading = asyncio.create_task(self.read())
            self.reading.add_done_callback(lambda _: setattr(self, "reading", None))
        return self.value

    async def read(self) -> bytes | None:
        """The secret every replica shares, made now if Redis holds none; None while Redis cannot say."""
        if self.breaker.is_open:
            return self.value
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(SECRET_KEY, os.urandom(SECRET_BYTES).hex(), nx=True)
        pipe.get(SECRET_KEY)
        try:
            _, stored = await pipe.execute()
        except (RedisError, OSError) as exc:
            self.breaker.failure()
            logger.info("the canary's sample secret was not read: %s", exc)
            return self.value
        self.breaker.success()
        self.value, self.read_at = stored, time.monotonic()  # its text is the key: any bytes serve HMAC
        return self.value


@dataclass
class Shadow:
    client: TorchServeClient
    state: ModelState
    redis: Redis
    breaker: CircuitBreaker
    concurrency: int
    budget: Admission  # each client's comparisons (CANARY_CLIENT_LIMIT)
    running: set[asyncio.Task[Any]] = field(default_factory=set)
    secret: SampleSecret = field(init=False)

    def __post_init__(self) -> None:
        self.secret = SampleSecret(self.redis, self.breaker)

    def consider(self, digest: str, upload: Upload, answer: HandlerClassification) -> None:
        """After the default answered ``upload`` (image ``digest``): compare the canary's answer, if it
        has one and the image is in its share. Before this worker has read the sample's secret, the
        image waits for it in the background."""
        canary = self.state.canary
        if canary is None or answer.model.version == canary.version:
            return
        context = current()
        client = context.client if context is not None and context.client else "unknown"
        secret = self.secret.known()
        if secret is None and canary.share < 1:
            self._start(self._consider_once_read(canary, client, digest, upload, answer))
            return
        self._decide(canary, secret or b"", client, digest, upload, answer)

    async def _consider_once_read(
        self, canary: Canary, client: str, digest: str, upload: Upload, answer: HandlerClassification
    ) -> None:
        if (secret := await self.secret.read()) is not None:
            self._decide(canary, secret, client, digest, upload, answer)

    def _decide(
        self,
        canary: Canary,
        secret: bytes,
        client: str,
        digest: str,
        upload: Upload,
        answer: HandlerClassification,
    ) -> None:
        if not shadowed(secret, digest, canary.share):
            return
        if len(self.running) >= self.concurrency or LOAD.share >= BUSY_SHARE:
            self._count(canary, answer, "skipped")
            return
        self._start(self._compare(canary, client, upload, answer))

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self.running.add(task)
        task.add_done_callback(self.running.discard)

    async def _compare(
        self, canary: Canary, client: str, upload: Upload, answer: HandlerClassification
    ) -> None:
        if not (await self.budget.admit(client)).allowed:
            self._count(canary, answer, "skipped", over_budget=True)
            return
        model = answer.model.name
        try:
            raw = await self.client.predict(model, upload.data, upload.content_type, version=canary.version)
            candidate = checked(HandlerClassification, raw)
        except ApiError as exc:
            logger.info("the canary %s %s did not answer: %s", model, canary.version, exc.message)
            self._count(canary, answer, "error")
            return
        CANDIDATE_CONFIDENCE.labels(model, canary.version).observe(candidate.confidence)
        outcome = "agree" if candidate.label == answer.label else "disagree"
        self._count(canary, answer, outcome, candidate)

    def _count(
        self,
        canary: Canary,
        answer: HandlerClassification,
        outcome: str,
        candidate: HandlerClassification | None = None,
        over_budget: bool = False,
    ) -> None:
        """``over_budget``: a skipped comparison that the metrics tell apart (Redis counts it skipped)."""
        COMPARISONS.labels(answer.model.name, canary.version, "over_budget" if over_budget else outcome).inc()
        fields = {outcome: 1}
        if candidate is not None:
            fields |= {UNKNOWN_OF["default"]: int(answer.label == UNKNOWN_LABEL)}
            fields |= {UNKNOWN_OF["candidate"]: int(candidate.label == UNKNOWN_LABEL)}
        key = counters_key(answer.model.name, answer.model.version, canary.version)
        self._start(self._add(key, fields))

    async def _add(self, key: str, fields: dict[str, int]) -> None:
        """Into every replica's counters; Redis away, they are this worker's metrics alone (fail-open)."""
        if self.breaker.is_open:
            return
        pipe = self.redis.pipeline(transaction=False)
        for name, count in fields.items():
            pipe.hincrby(key, name, count)
        pipe.expire(key, KEEP_SECONDS)
        try:
            await pipe.execute()
        except (RedisError, OSError) as exc:
            self.breaker.failure()
            logger.info("canary counters not written: %s", exc)
            return
        self.breaker.success()

    async def view(self) -> dict[str, Any] | None:
        """The canary and its figures so far, every replica's (None without a canary; figures None while
        Redis cannot say)."""
        canary, default = self.state.canary, self.state.default_version
        if canary is None or default is None:
            return None
        figures: dict[str, Any] | None = None
        if not self.breaker.is_open:
            try:
                raw = await self.redis.hgetall(counters_key(self.state.model, default, canary.version))
                figures = Figures.from_hash(raw).view()
            except (RedisError, OSError):
                figures = None
        return {"version": canary.version, "share": canary.share, "figures": figures}

    async def drain(self) -> None:
        """At shutdown: let the comparisons under way finish (they are background work, never a visitor's)."""
        await asyncio.gather(*self.running, return_exceptions=True)
