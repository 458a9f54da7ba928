"""What a model's answers look like, on its test split (the reference ``training export`` writes into the
archive) and in service (the gateway's counters), in the same terms, so that Prometheus can compare the
two (monitoring/alerts.yml: a population stability index over these bins). Plain Python: the gateway
image has no numpy."""

from __future__ import annotations

from typing import Any

from inference.labels import UNKNOWN_LABEL

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
