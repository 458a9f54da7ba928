"""Logits -> the per-image answer: calibrated probabilities for all classes, sorted, and the verdict."""

from __future__ import annotations

from typing import Any

import numpy as np

from training.labels import UNKNOWN_LABEL, UNKNOWN_NAME


def softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    scaled = logits / temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def answer(probs: np.ndarray, labels: list[str], names: dict[str, str], threshold: float) -> dict[str, Any]:
    """One image's answer; ``label`` is ``unknown`` when the calibrated confidence is under ``threshold``."""
    order = np.argsort(-probs, kind="stable")
    ranked = [
        {"label": labels[i], "name": names[labels[i]], "probability": round(float(probs[i]), 6)}
        for i in order
    ]
    top = ranked[0]
    confidence = float(probs[order[0]])
    known = confidence >= threshold
    return {
        "label": top["label"] if known else UNKNOWN_LABEL,
        "name": top["name"] if known else UNKNOWN_NAME,
        "confidence": round(confidence, 6),
        "probabilities": ranked,
    }
