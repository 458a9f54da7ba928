"""The model card says what the run's reports measured and nothing they did not: its figures are the
reports', its limitations follow from them (training.model_card)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inference.labels import LABELS
from training.model_card import FEW_TEST_IMAGES, build, markdown


def write_run(run: Path, kind: str = "synthetic", external: bool = False, support: int = 40) -> Path:
    per_class = {
        label: {"precision": 0.9, "recall": 0.8, "f1-score": 0.85, "support": support} for label in LABELS
    }
    report = {
        "arch": "efficientnet_lite0",
        "epoch": 2,
        "test_images": support * len(LABELS),
        "accuracy": 0.99,
        "macro_f1": 0.987,
        "weighted_f1": 0.988,
        "top2_accuracy": 1.0,
        "per_class": per_class,
        "temperature": 1.7,
        "ece_before": 0.078,
        "ece_after": 0.013,
        "unknown_threshold": 0.62,
        "unknown_coverage": 0.97,
        "unknown_accuracy": 0.995,
        "ood_images": 8,
        "ood_flagged": 1.0,
    }
    if external:
        figures = {
            "accuracy": 0.373,
            "macro_f1": 0.165,
            "not_recognised_rate": 0.975,
            "named_correctly": 0.025,
        }
        report["external"] = {
            "root": "/srv/private/path/screenshots",
            "images": 118,
            "classes": list(LABELS),
            **figures,
            "borders": {"cut": 1, "figures": {"as sent, cut": figures, "on a 21:9 screen, kept": figures}},
        }
    prepare = {
        "data_root": "/home/someone/data/synthetic",
        "images": 2800,
        "synthetic_images": 2800 if kind == "synthetic" else 0,
        "data_kind": kind,
        "counts": {split: {label: 10 for label in LABELS} for split in ("train", "val", "test")},
    }
    run.mkdir(parents=True, exist_ok=True)
    (run / "report.json").write_text(json.dumps(report))
    (run / "prepare_report.json").write_text(json.dumps(prepare))
    (run / "serving_forms.json").write_text(json.dumps({"shipped": "onnx-int8"}))
    return run


def test_the_card_carries_the_reports_figures_class_by_class(tmp_path):
    card = build(write_run(tmp_path / "run"), "fromsoft", "2.0")
    assert (card["name"], card["version"], card["form"], card["epochs"]) == (
        "fromsoft",
        "2.0",
        "onnx-int8",
        3,
    )
    assert card["test"]["per_class"]["elden_ring"] == {
        "name": "Elden Ring",
        "precision": 0.9,
        "recall": 0.8,
        "f1": 0.85,
        "support": 40,
    }
    assert card["calibration"] == {
        "temperature": 1.7,
        "ece_before": 0.078,
        "ece_after": 0.013,
        "calibrated_on": "validation",
    }
    assert card["unknown"]["threshold"] == 0.62
    assert card["data"] == {
        "kind": "synthetic",
        "source": "synthetic",  # the folder's name, never a server's path
        "images": 2800,
        "synthetic_images": 2800,
        "reviewed_images": None,
        "split": {"train": 70, "val": 70, "test": 70},
    }
    assert card["reviewed"] is None  # not retrained on reviewed screenshots


def test_a_synthetic_model_not_measured_outside_its_data_says_both(tmp_path):
    said = " ".join(build(write_run(tmp_path / "run"), "fromsoft", "1.0")["limitations"])
    assert "synthetic frames only" in said
    assert "not measured on screenshots from outside its data" in said


def test_an_external_measure_is_told_with_its_border_table_and_no_server_path(tmp_path):
    card = build(write_run(tmp_path / "run", kind="real", external=True), "fromsoft", "1.0")
    text = markdown(card)
    assert card["external"]["set"] == "screenshots"
    assert "/srv/private" not in json.dumps(card) + text
    assert "named the right game for 2.5%" in " ".join(card["limitations"])
    assert "synthetic frames only" not in " ".join(card["limitations"])
    assert "| on a 21:9 screen | kept | 0.3730 | 0.1650 | 0.9750 | 0.0250 |" in text


def test_classes_with_few_test_images_are_named_as_uncertain(tmp_path):
    card = build(write_run(tmp_path / "run", support=FEW_TEST_IMAGES - 1), "fromsoft", "1.0")
    assert any(
        item.startswith(f"Fewer than {FEW_TEST_IMAGES} test images of Bloodborne")
        for item in card["limitations"]
    )


def test_an_unevaluated_run_has_no_card(tmp_path):
    with pytest.raises(FileNotFoundError, match="training evaluate"):
        build(tmp_path, "fromsoft", "1.0")


def test_a_refreshed_run_shows_its_reviewed_held_out_figures_beside_the_defaults(tmp_path):
    run = write_run(tmp_path / "run", kind="mixed")
    answers = {"images": 12, "named_right": 4, "not_recognised": 7, "named_wrong": 1, "named_wrong_strict": 1}
    default = {
        "images": 12,
        "named_right": 0,
        "not_recognised": 11,
        "named_wrong": 1,
        "named_wrong_strict": 1,
    }
    refresh = {
        "reviewed": {"held_out": ["a"] * 12, "trained_on": ["b"] * 33},
        "method": "logreg",
        "default_model": {"name": "fromsoft", "version": "1.0", "digest": "e1192af13e3b"},
        "candidate": {"answers": {**answers, "named_right": 3}, "test_macro_f1": 0.99},
        "default": {"answers": default, "test_macro_f1": 1.0},
    }
    (run / "refresh.json").write_text(json.dumps(refresh))
    shipped = {
        "shipped": "onnx-int8",
        "forms": {"onnx-int8": {"test_macro_f1": 0.995}},
        "reviewed_held_out": answers,
    }
    (run / "serving_forms.json").write_text(json.dumps(shipped))
    card = build(run, "fromsoft", "r1")
    # The candidate as its shipped form answered (export's measure), not refresh's checkpoint measure.
    assert card["reviewed"]["candidate"] == answers
    assert card["reviewed"]["candidate_test_macro_f1"] == 0.995
    assert card["reviewed"]["default_model"]["digest"] == "e1192af13e3b"
    text = markdown(card)
    assert "| fromsoft r1 | 4 | 7 | 1 | 1 |" in text
    assert "| default 1.0 (e1192af13e3b) | 0 | 11 | 1 | 1 |" in text
    assert "rest on 12 screenshots" in " ".join(card["limitations"])
