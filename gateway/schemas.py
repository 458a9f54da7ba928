"""The shapes of answers: what TorchServe's handler must send, checked before anything is cached or
passed on, and what the gateway sends its clients (these models also describe them in OpenAPI).

An upstream answer of the wrong shape (a handler of another version, a worker that answered with the
wrong kind of result) is a 502 in the one error shape, logged, and never cached: a bad answer cached
would be served for a day.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Self, TypeVar

from pydantic import BaseModel, Field, ValidationError, model_validator

from gateway.errors import ApiError
from store.models import Verdict

logger = logging.getLogger(__name__)
Shape = TypeVar("Shape", bound=BaseModel)


class Ranked(BaseModel):
    label: str
    name: str
    probability: float = Field(ge=0, le=1)


class ModelRef(BaseModel):
    name: str
    version: str
    digest: str = Field(description="the model archive's content digest (a short SHA-256)")


class HandlerClassification(BaseModel):
    """The handler's classification: every class ranked, with the verdict."""

    label: str
    name: str
    confidence: float = Field(ge=0, le=1)
    probabilities: list[Ranked] = Field(min_length=1)
    model: ModelRef
    preprocessing_version: str
    timings_ms: dict[str, float] = {}


class HandlerExplanation(BaseModel):
    """The handler's Grad-CAM of its top class: a ``rows`` x ``cols`` grid of values in [0, 1]."""

    label: str
    name: str
    rows: int = Field(gt=0)
    cols: int = Field(gt=0)
    heatmap: list[list[float]]
    model: ModelRef
    preprocessing_version: str

    @model_validator(mode="after")
    def _grid(self) -> Self:
        if len(self.heatmap) != self.rows or any(len(row) != self.cols for row in self.heatmap):
            raise ValueError(f"heatmap is not {self.rows}x{self.cols}")
        return self


class Refusal(BaseModel):
    code: str
    message: str


class HandlerRefusal(BaseModel):
    """The handler's refusal of one image of a multi-image request, in that image's place."""

    error: Refusal


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


# -- what the gateway answers its clients -------------------------------------------------------------
class ClassificationBody(BaseModel):
    """A classification as the cache holds it."""

    label: str = Field(description='a game\'s label, or "unknown" under the calibrated threshold')
    name: str = Field(description='the game\'s name, or "Not recognised"')
    confidence: float = Field(ge=0, le=1)
    top_k: list[Ranked]
    model: ModelRef
    sha256: str = Field(description="the image's SHA-256, hex")


CACHED = (
    "true: this request made no model call of its own. The answer was cached, or another request for the "
    "same image was at the model when this one came, and this one waited for its answer"
)


class Classification(ClassificationBody):
    cached: bool = Field(description=CACHED)
    timings_ms: dict[str, float]


class ExplanationBody(BaseModel):
    """An explanation as the cache holds it."""

    label: str
    name: str
    rows: int
    cols: int
    heatmap: list[list[float]] = Field(description="rows x cols values in [0, 1]: where the model looked")
    model: ModelRef
    sha256: str


class Explanation(ExplanationBody):
    cached: bool = Field(description=CACHED)


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
