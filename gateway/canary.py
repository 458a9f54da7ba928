"""A canary answered in the shadow of the default: for a cache miss whose image falls inside the canary's
share (ops.canary.shadowed, by its hash), the visitor gets the default's answer as always, and the
canary's answer to the same image is asked in the background and compared by its top-1 label ("Not
recognised" counts as a label). A canary never slows a visitor: at most CANARY_CONCURRENCY shadow calls
run at once per worker, none while the worker holds three quarters of MAX_IN_FLIGHT, and a call not made
is counted as skipped. Outcomes are counted in this worker's metrics and, for every replica together,
in Redis (ops.canary), which `python -m ops.models promote` and the models view read."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Histogram
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.breaker import CircuitBreaker
from gateway.drift import CONFIDENCE_BUCKETS
from gateway.errors import ApiError
from gateway.in_flight import LOAD
from gateway.model_state import ModelState
from gateway.schemas import HandlerClassification, checked
from gateway.upstream import TorchServeClient
from gateway.validation import Upload
from inference.labels import UNKNOWN_LABEL
from ops.canary import UNKNOWN_OF, Figures, counters_key, shadowed
from ops.replica_status import Canary

logger = logging.getLogger(__name__)
BUSY_SHARE = 0.75  # of MAX_IN_FLIGHT in use: no shadow call then
KEEP_SECONDS = 30 * 86400  # the counters of a canary nobody looks at any more go away

COMPARISONS = Counter(
    "gateway_canary_comparisons_total",
    "A canary's answers against the default's: agree, disagree (top-1 label), error, skipped (under load)",
    ["model", "candidate", "outcome"],
)
CANDIDATE_CONFIDENCE = Histogram(
    "gateway_canary_confidence",
    "The calibrated confidence of the canary's answers",
    ["model", "candidate"],
    buckets=CONFIDENCE_BUCKETS,
)


@dataclass
class Shadow:
    client: TorchServeClient
    state: ModelState
    redis: Redis
    breaker: CircuitBreaker
    concurrency: int
    running: set[asyncio.Task[None]] = field(default_factory=set)

    def consider(self, digest: str, upload: Upload, answer: HandlerClassification) -> None:
        """After the default answered ``upload`` (image ``digest``): compare the canary's answer, if it
        has one and the image is in its share."""
        canary = self.state.canary
        if canary is None or not shadowed(digest, canary.share) or answer.model.version == canary.version:
            return
        if len(self.running) >= self.concurrency or LOAD.share >= BUSY_SHARE:
            self._count(canary, answer, "skipped")
            return
        task = asyncio.create_task(self._compare(canary, upload, answer))
        self.running.add(task)
        task.add_done_callback(self.running.discard)

    async def _compare(self, canary: Canary, upload: Upload, answer: HandlerClassification) -> None:
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
    ) -> None:
        COMPARISONS.labels(answer.model.name, canary.version, outcome).inc()
        fields = {outcome: 1}
        if candidate is not None:
            fields |= {UNKNOWN_OF["default"]: int(answer.label == UNKNOWN_LABEL)}
            fields |= {UNKNOWN_OF["candidate"]: int(candidate.label == UNKNOWN_LABEL)}
        key = counters_key(answer.model.name, answer.model.version, canary.version)
        task = asyncio.create_task(self._add(key, fields))
        self.running.add(task)
        task.add_done_callback(self.running.discard)

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
