import numpy as np
import pytest

from inference.labels import LABELS
from training.external import external_metrics, markdown


def _probs(rows: list[tuple[int, float]]) -> np.ndarray:
    """One row per image: the predicted class gets ``p``, the rest share what is left."""
    out = np.zeros((len(rows), len(LABELS)))
    for i, (cls, p) in enumerate(rows):
        out[i] = (1 - p) / (len(LABELS) - 1)
        out[i, cls] = p
    return out


def test_external_figures_follow_their_definitions():
    # bloodborne x3, sekiro x1; predictions: right (sure), right (unsure), wrong as elden ring (sure),
    # sekiro right (sure).
    bb, er, sk = LABELS.index("bloodborne"), LABELS.index("elden_ring"), LABELS.index("sekiro")
    probs = _probs([(bb, 0.9), (bb, 0.4), (er, 0.8), (sk, 0.95)])
    y_true = np.array([bb, bb, bb, sk])
    figures = external_metrics(probs, y_true, threshold=0.5)
    assert figures["images"] == 4
    assert figures["classes"] == ["bloodborne", "sekiro"]
    assert figures["accuracy"] == pytest.approx(3 / 4)
    # F1 over the two classes present: bloodborne P=1 R=2/3 -> 0.8; sekiro 1.0. Elden Ring is absent.
    assert figures["macro_f1"] == pytest.approx((0.8 + 1.0) / 2)
    assert figures["not_recognised_rate"] == pytest.approx(1 / 4)
    assert figures["named_correctly"] == pytest.approx(2 / 4)
    assert figures["accepted_accuracy"] == pytest.approx(2 / 3)
    assert figures["per_class"]["bloodborne"] == {
        "precision": 1.0,
        "recall": pytest.approx(2 / 3),
        "f1": pytest.approx(0.8),
        "support": 3,
        "not_recognised": 1,
    }
    assert figures["per_class"]["elden_ring"]["support"] == 0
    matrix = np.array(figures["confusion_matrix"])
    assert matrix.sum() == 4
    assert (matrix[bb, bb], matrix[bb, er], matrix[sk, sk]) == (2, 1, 1)


def test_nothing_above_the_threshold_has_no_accepted_accuracy():
    figures = external_metrics(_probs([(0, 0.3), (1, 0.3)]), np.array([0, 1]), threshold=0.9)
    assert figures["not_recognised_rate"] == 1.0
    assert figures["named_correctly"] == 0.0
    assert figures["accepted_accuracy"] is None
    section = {"root": "/data/shots", "skipped": {}, "copies_of_run_images": 0, **figures}
    text = "\n".join(markdown(section))
    assert "## External set: shots (2 images the run never saw)" in text
    assert "| accuracy of the answers above the threshold | n/a |" in text
