"""What a version retrained on reviewed screenshots (``training refresh``) says about itself, once: the
held-out part of the reviewed set answered by it and by the default it was measured against (that
default's archive digest included), and both on the base data's test split. ``training export`` puts it
in the model card under ``reviewed``; the handler's description carries the card to each replica's
report, where ``ops.models promote`` judges it (ops.reviewed). Plain data, so every side reads the same
shape without importing the other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from inference.scoring import known

STRICT_CONFIDENCE = 0.8  # a second, stricter "confidently wrong": a wrong game named at 0.8 or more


@dataclass(frozen=True)
class Answers:
    """How a model answered some labelled images, as a visitor sees each answer."""

    images: int
    named_right: int  # the right game named (calibrated confidence at or above the threshold)
    not_recognised: int  # under the threshold
    named_wrong: int  # a wrong game named: what a visitor takes for a confident wrong answer
    named_wrong_strict: int  # of those, at STRICT_CONFIDENCE or more

    @classmethod
    def of(cls, probs: np.ndarray, labels: np.ndarray, threshold: float) -> Answers:
        """From calibrated probabilities (N, classes), label indices and the unknown threshold."""
        named = known(probs, threshold)
        right = probs.argmax(1) == labels
        confidence = probs.max(1)
        return cls(
            images=len(labels),
            named_right=int((named & right).sum()),
            not_recognised=int((~named).sum()),
            named_wrong=int((named & ~right).sum()),
            named_wrong_strict=int((named & ~right & (confidence >= STRICT_CONFIDENCE)).sum()),
        )

    def share(self, field: str) -> float:
        return getattr(self, field) / self.images if self.images else 0.0

    def __str__(self) -> str:
        return (
            f"{self.named_right}/{self.images} named right, {self.not_recognised} not recognised, "
            f"{self.named_wrong} named wrong ({self.named_wrong_strict} at {STRICT_CONFIDENCE:g} or more)"
        )


@dataclass(frozen=True)
class DefaultModel:
    """The version served by default when the candidate was measured against it."""

    name: str | None
    version: str | None
    digest: str | None  # the archive's content digest (inference.archive_digest); None: a run, no archive


@dataclass(frozen=True)
class ReviewedFigures:
    held_out: int  # reviewed images kept out of training (and out of calibration)
    trained_on: int  # reviewed images the candidate learned from
    method: str  # how it learned them (training.refresh --method)
    candidate: Answers  # on the held-out images, as its archive answers (its shipped form)
    default: Answers  # the same images, as the default answers
    default_model: DefaultModel
    candidate_test_macro_f1: float  # on the base data's test split
    default_test_macro_f1: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReviewedFigures:
        """Raises KeyError or TypeError for a dictionary of another shape."""
        return cls(
            held_out=int(data["held_out"]),
            trained_on=int(data["trained_on"]),
            method=str(data["method"]),
            candidate=Answers(**data["candidate"]),
            default=Answers(**data["default"]),
            default_model=DefaultModel(**data["default_model"]),
            candidate_test_macro_f1=float(data["candidate_test_macro_f1"]),
            default_test_macro_f1=float(data["default_test_macro_f1"]),
        )
