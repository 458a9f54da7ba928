"""model_meta.json, what an archive says of itself: what the handler needs to answer (labels,
preprocessing, calibration), what the page shows of the model (its provenance), the serving forms
measured, and how it answered the test split (the drift reference)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from inference.labels import DISPLAY_NAMES, LABELS


def describe_data(prepare_report: dict[str, Any]) -> str | None:
    """Where the training data came from, in words, without publishing a server path."""
    root, kind = prepare_report.get("data_root"), prepare_report.get("data_kind")
    if kind == "synthetic":
        return "synthetic frames (the embedded default)"
    if root is None:
        return None
    name = Path(root).name
    return (
        f"{name}, {prepare_report['synthetic_images']} of them synthetic frames" if kind == "mixed" else name
    )


def calibration_of(run_dir: Path) -> dict[str, float]:
    """The temperature and unknown threshold `evaluate` fitted on validation."""
    path = run_dir / "calibration.json"
    if path.is_file():
        return dict(json.loads(path.read_text()))
    print("export: warning: no calibration.json (run `evaluate` first): temperature 1, no unknown threshold")
    return {"temperature": 1.0, "unknown_threshold": 0.0}


def _json_or_empty(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def model_meta(
    run_dir: Path,
    checkpoint: dict[str, Any],
    form: str,
    comparison: dict[str, Any],
    reference: dict[str, Any],
) -> dict[str, Any]:
    """What the handler needs to answer (labels, preprocessing, calibration), what the page shows about
    the model (its provenance), and what its answers on the test split looked like (``reference``)."""
    calibration = calibration_of(run_dir)
    report = _json_or_empty(run_dir / "report.json")
    prepare_report = _json_or_empty(run_dir / "prepare_report.json")
    return {
        "arch": checkpoint["arch"],
        "form": form,
        "labels": list(LABELS),
        "display_names": DISPLAY_NAMES,
        "preprocessing": checkpoint["preprocessing"],
        "temperature": calibration["temperature"],
        "unknown_threshold": calibration["unknown_threshold"],
        "provenance": {
            "run": run_dir.name,
            "data_root": describe_data(prepare_report),
            # synthetic / mixed / real, counted from the generator's mark on each image by `prepare`:
            # the page warns first-time visitors when a model has never seen a real screenshot.
            "data_kind": prepare_report.get("data_kind"),
            "images": prepare_report.get("images"),
            "synthetic_images": prepare_report.get("synthetic_images"),
            "epochs": int(checkpoint["epoch"]) + 1,
            "test_accuracy": report.get("accuracy"),
            "test_macro_f1": report.get("macro_f1"),
            "exported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
        "serving_forms": comparison,
        "reference": reference,
    }
