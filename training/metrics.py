"""Macro-F1 over every game, the figure training, evaluation, export and the benchmarks compare."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import f1_score

from inference.labels import LABELS


def macro_f1(labels: Sequence[int] | np.ndarray, predicted: Sequence[int] | np.ndarray) -> float:
    """Every class counts, also one absent from ``labels`` (its F1 is 0, not left out)."""
    return float(f1_score(labels, predicted, average="macro", labels=range(len(LABELS)), zero_division=0))
