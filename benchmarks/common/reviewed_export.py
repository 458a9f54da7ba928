"""A reviewed data set in the layout ``python -m ops.feedback export OUT`` writes (docs/training.md,
Retraining on reviewed screenshots), ``OUT/<label>/<sha256>.<ext>`` and ``OUT/manifest.csv``, from files
whose labels are known: what the offline retraining study (benchmarks.studies.retrain_offline) and the
tests give ``training refresh``, as the operator's tool would leave it after moderators accepted them."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from collections.abc import Iterable
from pathlib import Path

COLUMNS = ("sha256", "label", "reviewer", "reviewed_at", "verdict_counts", "source")


def write_export(out: Path, images: Iterable[tuple[Path, str]]) -> Path:
    """``images``: (file, label) pairs, copied under their hash; returns ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for path, label in images:
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        (out / label).mkdir(exist_ok=True)
        shutil.copy(path, out / label / f"{sha}{path.suffix.lower()}")
        rows.append(
            {
                "sha256": sha,
                "label": label,
                "reviewer": "test",
                "reviewed_at": "2026-12-05T00:00:00Z",
                "verdict_counts": json.dumps({"wrong": 1}),
                "source": "feedback",
            }
        )
    with (out / "manifest.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return out


def feedback_files(screenshots: Path, use: str = "feedback") -> list[tuple[Path, str]]:
    """The screenshots ``feedback_split.tsv`` marks ``use``, with their labels (its ``class`` column)."""
    with (screenshots / "feedback_split.tsv").open(newline="") as f:
        return [
            (screenshots / r["file"], r["class"])
            for r in csv.DictReader(f, delimiter="\t")
            if r["use"] == use
        ]
