"""The answers that cross processes, defined once: what the handler sends TorchServe's callers (checked by
the gateway before anything is cached or passed on), and what the gateway sends its clients (these models
also describe them in OpenAPI, from which the page's TypeScript types are generated). The gateway, the
handler and the folder CLI all import them from here.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, Field, model_validator


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
