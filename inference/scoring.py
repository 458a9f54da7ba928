"""From logits to what a visitor is told, the same for evaluation and serving: probabilities calibrated
with the temperature fitted on validation, and the verdict, "unknown" under the threshold chosen on
them. ``training evaluate`` chooses the threshold on ``calibrated`` probabilities and the handler
applies it to the same function's output, so the two cannot disagree."""

from __future__ import annotations

from typing import Any

import numpy as np

from inference.labels import UNKNOWN_LABEL, UNKNOWN_NAME


def calibrated(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / temperature) over the last axis, computed stably in float64."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=-1, keepdims=True)


def known(probs: np.ndarray, threshold: float) -> np.ndarray:
    """Which answers name a game: their calibrated confidence reaches the threshold."""
    return np.asarray(probs).max(axis=-1) >= threshold


def answer(probs: np.ndarray, labels: list[str], names: dict[str, str], threshold: float) -> dict[str, Any]:
    """One image's answer; ``label`` is ``unknown`` when the calibrated confidence is under ``threshold``."""
    order = np.argsort(-probs, kind="stable")
    ranked = [
        {"label": labels[i], "name": names[labels[i]], "probability": round(float(probs[i]), 6)}
        for i in order
    ]
    top = ranked[0]
    named = bool(known(probs, threshold))
    return {
        "label": top["label"] if named else UNKNOWN_LABEL,
        "name": top["name"] if named else UNKNOWN_NAME,
        "confidence": round(float(probs[order[0]]), 6),
        "probabilities": ranked,
    }
