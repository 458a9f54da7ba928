"""The gateway's own answer shapes (share links, errors, the models view, feedback, keys) and the check of
TorchServe's answers against the shared ones (inference.answers), done before anything is cached or
passed on.

An upstream answer of the wrong shape (a handler of another version, a worker that answered with the
wrong kind of result) is a 502 in the one error shape, logged, and never cached: a bad answer cached
would be served for the cache's whole lifetime (CACHE_TTL_SECONDS).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError

from gateway.errors import ApiError
from inference.answers import Classification, ModelRef, Ranked
from store.models import Verdict

logger = logging.getLogger(__name__)
Shape = TypeVar("Shape", bound=BaseModel)


def wrong_shape() -> ApiError:
    message = "the model server gave an answer of the wrong shape; try again"
    return ApiError(502, "bad_upstream_answer", message)


def checked(shape: type[Shape], answer: Any) -> Shape:
    """``answer`` as ``shape``, or the 502 for an answer of the wrong shape."""
    try:
        return shape.model_validate(answer)
    except ValidationError as exc:
        logger.error("TorchServe's answer is not a %s: %s", shape.__name__, exc.errors()[:3])
        raise wrong_shape() from None


class SharedAnswer(BaseModel):
    """What a share link shows: the classification as the visitor who shared it chose to show it, without
    the image's SHA-256 (it would let anyone holding a candidate image tell which one was shared)."""

    label: str
    name: str
    confidence: float = Field(ge=0, le=1)
    top_k: list[Ranked]
    model: ModelRef
    expires_at: datetime = Field(description="when the link dies: with the cached answer it copies (UTC)")


class ShareCreated(BaseModel):
    id: str = Field(description="unguessable: 128 random bits, URL-safe base64 (22 characters)")
    url: str = Field(description="the page that shows the shared answer, relative to the site: /s/{id}")
    expires_at: datetime


class ErrorDetail(BaseModel):
    code: str
    message: str
    request_id: str = Field(
        description="this request's ID, also its X-Request-ID header and in every log line about it"
    )


class ErrorBody(BaseModel):
    """Every failure's one shape."""

    error: ErrorDetail


class BatchAnswer(BaseModel):
    results: list[Classification | ErrorBody] = Field(
        description="one per file, in the order sent: its classification, or why that file alone failed"
    )


class Worker(BaseModel):
    id: str | None
    status: str | None


class Version(BaseModel):
    version: str
    default: bool
    workers: list[Worker]


class CanaryFigures(BaseModel):
    comparisons: int
    agreement: float | None = Field(description="the share of comparisons whose top-1 labels agree")
    errors: int
    skipped: int = Field(
        description="comparisons not made: the gateway was busy, or the client's images had fed their "
        "budget (CANARY_CLIENT_LIMIT)"
    )
    default_unknown_share: float | None
    candidate_unknown_share: float | None


class CanaryView(BaseModel):
    version: str
    share: float = Field(
        description="the share of distinct images compared, chosen by a keyed hash under a secret"
    )
    figures: CanaryFigures | None = Field(description="every replica's so far; null while Redis cannot say")


class ServedModel(BaseModel):
    name: str
    default_version: str | None
    declared_default_version: str | None = None
    digest: str | None = Field(default=None, description="the default version's archive digest")
    versions: list[Version]
    canary: CanaryView | None = Field(default=None, description="a version answering in the default's shadow")


class LabelView(BaseModel):
    """A game the served model knows: its label (what answers carry) and its name (what people read)."""

    label: str
    name: str


class ModelsView(BaseModel):
    models: list[ServedModel]
    labels: list[LabelView] = Field(description="the games the served model knows, in its order")
    provenance: dict[str, Any]
    unknown_threshold: float | None
    arch: str | None
    max_upload_bytes: int
    model_card: dict[str, Any] | None = Field(
        None, description="the served model's card (training.model_card); null for an archive without one"
    )
    batch_max_files: int = Field(description="files in one POST /api/v1/classify/batch at most")
    batch_max_bytes: int = Field(description="a batch's request body at most, multipart framing included")
    cache_ttl_seconds: int = Field(
        description="how long an answer is kept (CACHE_TTL_SECONDS): repeats and share links last this long"
    )


class FeedbackRecord(BaseModel):
    sha256: str
    verdict: Verdict
    label: str | None = Field(
        description="the game the vote names: the visitor's, or the model's for 'right'"
    )
    shared: bool = Field(
        description="the visitor agreed to share the screenshot (share=true): it is kept for review"
    )
    model: ModelRef = Field(description="the model version whose answer was judged")
    updated: bool = Field(description="this client had voted on this image before: its vote changed")


class FeedbackAnswer(BaseModel):
    feedback: FeedbackRecord


class KeyLimitsView(BaseModel):
    rate: str = Field(description="units per second, minute, hour or day, sustained")
    burst: int = Field(description="units that may be taken at once")
    daily: int = Field(description="units of answered requests in any rolling 24 hours")
    concurrency: int = Field(description="requests in flight at once")


class KeyUsageView(BaseModel):
    daily_used: int = Field(description="units of answered requests in the last 24 hours")
    daily_reserved: int = Field(description="units held by this key's requests in flight")
    daily_remaining: int
    daily_resets_in: int = Field(description="seconds until the oldest counted minute leaves the 24 hours")
    rate_remaining: int = Field(description="units that may be taken at once now")
    rate_full_in: int = Field(description="seconds until the whole burst is back")
    in_flight: int


class KeyView(BaseModel):
    """GET /api/v1/me: the calling key, its limits and its use."""

    key: str = Field(description="the key's public id, fsl_<prefix>: never its secret")
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None = Field(description="when a rotated key stops working; null: no end set")
    limits: KeyLimitsView
    usage: KeyUsageView
