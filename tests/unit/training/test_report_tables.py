"""The per-class table training's reports share (training.class_table), as evaluate renders it from
sklearn's classification report, which holds its averages beside the classes."""

from __future__ import annotations

from sklearn.metrics import classification_report

from inference.labels import DISPLAY_NAMES, LABELS
from training.evaluate import markdown


def test_evaluates_report_lists_each_game_once_and_no_average_as_a_class():
    truth = list(range(len(LABELS))) * 2
    guessed = [*truth[:-1], 0]
    per_class = classification_report(
        truth,
        guessed,
        labels=list(range(len(LABELS))),
        target_names=list(LABELS),
        output_dict=True,
        zero_division=0,
    )
    report = {
        "arch": "tiny",
        "epoch": 0,
        "test_images": len(truth),
        "accuracy": 0.9,
        "macro_f1": 0.9,
        "weighted_f1": 0.9,
        "top2_accuracy": 1.0,
        "temperature": 1.0,
        "ece_before": 0.1,
        "ece_after": 0.05,
        "unknown_threshold": 0.5,
        "unknown_coverage": 0.9,
        "unknown_accuracy": 0.95,
        "per_class": per_class,
    }
    text = markdown(report)
    rows = [
        line
        for line in text.splitlines()
        if line.startswith("| ") and line.split(" | ")[0][2:] in DISPLAY_NAMES.values()
    ]
    assert [row.split(" | ")[0][2:] for row in rows] == [DISPLAY_NAMES[label] for label in LABELS]
    assert "macro avg" not in text
