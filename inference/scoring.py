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


# Drift: what a model's answers look like, on its test split (the reference export writes into the
# archive) and in service (the gateway's counters), in the same terms, so that Prometheus can compare the
# two (monitoring/alerts.yml: a population stability index over these bins).
CONFIDENCE_BANDS: tuple[str, ...] = tuple(f"{edge / 10:.1f}" for edge in range(10))  # each band's lower edge


def confidence_band(confidence: float) -> str:
    """The tenth of [0, 1] a confidence falls in, by its lower edge (1.0 is in the last, "0.9")."""
    return CONFIDENCE_BANDS[min(int(confidence * 10), 9)]


def answer_mix(labels: list[str], confidences: list[float], games: tuple[str, ...]) -> dict[str, Any]:
    """The share of each answer (``games`` and "unknown") and of each confidence band among answers."""
    count = max(len(labels), 1)
    bands = [confidence_band(c) for c in confidences]
    return {
        "label_share": {label: labels.count(label) / count for label in (*games, UNKNOWN_LABEL)},
        "unknown_share": labels.count(UNKNOWN_LABEL) / count,
        "confidence_share": {band: bands.count(band) / count for band in CONFIDENCE_BANDS},
        "answers": len(labels),
    }
