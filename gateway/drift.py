"""What the model answers in service, beside what it answered on its own test split: the signals of
drift (monitoring/alerts.yml's UnknownShareHigh, LabelMixDrift and ConfidenceDrift). Every answer the
model gives (not a cached repeat: a repeat is the same image again) counts its label and its confidence
band; the served version's reference, from its archive, is exported as gauges to compare them with."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from inference.answer_mix import CONFIDENCE_BANDS, confidence_band
from inference.labels import UNKNOWN_LABEL

# Where calibrated confidences fall: dense near the unknown threshold (0.9 for the demo model).
CONFIDENCE_BUCKETS = (0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99)

ANSWERS = Counter(
    "gateway_answers_total",
    "Answers the model gave (not cached repeats), by model, version and label (a game, or unknown)",
    ["model", "version", "label"],
)
CONFIDENCE = Histogram(
    "gateway_answer_confidence",
    "The calibrated confidence of the model's answers (not cached repeats)",
    ["model", "version"],
    buckets=CONFIDENCE_BUCKETS,
)
CONFIDENCE_BAND = Counter(
    "gateway_answer_confidence_band_total",
    "Answers by tenth of confidence (band: its lower edge), the bins the confidence PSI compares",
    ["model", "version", "band"],
)
REFERENCE_LABEL = Gauge(
    "gateway_reference_label_share",
    "The served version's share of each answer on its test split (from its archive)",
    ["model", "version", "label"],
    multiprocess_mode="livemax",
)
REFERENCE_UNKNOWN = Gauge(
    "gateway_reference_unknown_share",
    'The served version\'s share of "Not recognised" answers on its test split',
    ["model", "version"],
    multiprocess_mode="livemax",
)
REFERENCE_BAND = Gauge(
    "gateway_reference_confidence_share",
    "The served version's share of answers in each tenth of confidence on its test split",
    ["model", "version", "band"],
    multiprocess_mode="livemax",
)


def count_answer(model: str, version: str, label: str, confidence: float) -> None:
    ANSWERS.labels(model, version, label).inc()
    CONFIDENCE.labels(model, version).observe(confidence)
    CONFIDENCE_BAND.labels(model, version, confidence_band(confidence)).inc()


def show_reference(model: str, version: str, reference: dict[str, Any], labels: Iterable[str]) -> None:
    """``reference``: the handler's description's ``reference`` (inference.answer_mix.answer_mix of its test
    split); ``labels``: the games that version answers with, from the same description (its archive's,
    not the gateway's table: a model trained on a table with another game has a series for it). Every
    label's and band's series exists from then on, at 0 until counted: a label the model stops answering
    still weighs in the comparison."""
    for label in (*labels, UNKNOWN_LABEL):
        ANSWERS.labels(model, version, label)
    for band in CONFIDENCE_BANDS:
        CONFIDENCE_BAND.labels(model, version, band)
    if not reference:
        return
    for label, share in reference.get("label_share", {}).items():
        REFERENCE_LABEL.labels(model, version, label).set(share)
    REFERENCE_UNKNOWN.labels(model, version).set(reference.get("unknown_share", 0.0))
    for band, share in reference.get("confidence_share", {}).items():
        REFERENCE_BAND.labels(model, version, band).set(share)
