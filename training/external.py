"""How a trained run does on a folder-per-class set from outside its data (``evaluate --external DIR``).

A test split says how well a model learned its own data; it cannot say whether that data looks like
what users send. The synthetic demo model scores almost perfectly on its test split and answers "Not
recognised" for almost every real screenshot: only a set the run never saw shows that.
The set is read with ``prepare``'s rules (alias table, skipped files), judged with the temperature and
threshold fitted on validation, exactly as the served model answers, and exact copies of the run's
own images are left out and counted, so every figure is on images it never trained on.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

from inference.labels import DISPLAY_NAMES, LABELS, UNKNOWN_NAME
from inference.scoring import calibrated, known
from training.class_table import class_table
from training.data import Row
from training.prepare import PrepareError, index_root

# What cutting uniform borders (inference.borders) does to the set: as its images are, and each image
# centred on a wider screen, as a 16:9 game is shown on a 16:10 monitor or a 21:9 ultrawide.
AS_SENT = "as sent"
SCREENS = {"on a 16:10 screen": 16 / 10, "on a 21:9 screen": 21 / 9}
EFFECT_FIGURES = ("accuracy", "macro_f1", "not_recognised_rate", "named_correctly")


def run_hashes(run_dir: Path) -> set[str]:
    """SHA-256 of every image in the run's manifest, whatever its split."""
    with (run_dir / "manifest.csv").open(newline="") as f:
        return {row["sha256"] for row in csv.DictReader(f)}


def listed_files(path: Path, use: str) -> set[str]:
    """The files (relative paths) a TSV with ``file`` and ``use`` columns marks ``use``: the screenshots'
    ``feedback_split.tsv`` keeps its ``holdout`` files apart from the ``feedback`` ones a retrain learns."""
    with path.open(newline="") as f:
        reader = csv.DictReader(f, delimiter="\t")
        if not {"file", "use"} <= set(reader.fieldnames or []):
            raise PrepareError(f"{path} lacks a `file` or a `use` column")
        return {row["file"] for row in reader if row["use"] == use}


def external_rows(
    root: Path, run_dir: Path, workers: int, only: set[str] | None = None
) -> tuple[list[Row], dict[str, Any]]:
    """The set's usable images as rows (those ``only`` lists, relative to ``root``, when given), and what
    was left out (skipped files, copies of run images)."""
    indexed = index_root(root, workers)  # raises PrepareError for an unknown class folder
    if only is not None:
        indexed = [item for item in indexed if item.path.relative_to(root).as_posix() in only]
    seen = run_hashes(run_dir)
    skipped = Counter(item.skipped for item in indexed if item.skipped)
    usable = [item for item in indexed if not item.skipped]
    fresh = [item for item in usable if item.sha256 not in seen]
    rows = [Row(item.path, item.label, -1, "external") for item in fresh]
    return rows, {"skipped": dict(skipped), "copies_of_run_images": len(usable) - len(fresh)}


def external_metrics(probs: np.ndarray, y_true: np.ndarray, threshold: float) -> dict[str, Any]:
    """Top-1 figures, the served answers' "Not recognised" rate, and where each class went.

    Macro-F1 averages over the classes the set holds: a class it has no images of has no recall to
    measure (its wrong predictions still count against the classes they were taken from).
    """
    y_pred = probs.argmax(1)
    accepted = known(probs, threshold)
    present = sorted({int(i) for i in y_true})
    report = classification_report(
        y_true,
        y_pred,
        labels=range(len(LABELS)),
        target_names=list(LABELS),
        output_dict=True,
        zero_division=0,
    )
    per_class = {}
    for index, label in enumerate(LABELS):
        mask = y_true == index
        per_class[label] = {
            "precision": float(report[label]["precision"]),
            "recall": float(report[label]["recall"]),
            "f1": float(report[label]["f1-score"]),
            "support": int(mask.sum()),
            "not_recognised": int((~accepted[mask]).sum()),
        }
    return {
        "images": len(y_true),
        "classes": [LABELS[i] for i in present],
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "unknown_threshold": threshold,
        "not_recognised_rate": float((~accepted).mean()),
        # What a visitor sees as a right answer: the true game named, above the threshold.
        "named_correctly": float((accepted & (y_pred == y_true)).mean()),
        "accepted_accuracy": float((y_pred[accepted] == y_true[accepted]).mean()) if accepted.any() else None,
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=range(len(LABELS))).tolist(),
    }


def framings(image: Image.Image) -> dict[str, Image.Image]:
    """``image`` as sent, and centred on each of ``SCREENS`` with black bars where it does not fill it."""
    framed = {AS_SENT: image}
    for name, aspect in SCREENS.items():
        size = (
            max(image.width, round(image.height * aspect)),
            max(image.height, round(image.width / aspect)),
        )
        canvas = Image.new("RGB", size)
        canvas.paste(image, ((size[0] - image.width) // 2, (size[1] - image.height) // 2))
        framed[name] = canvas
    return framed


def border_effect(
    logits: dict[tuple[str, bool], np.ndarray], y_true: np.ndarray, temperature: float, threshold: float
) -> dict[str, dict[str, float]]:
    """The set's headline figures for each framing, borders cut and kept (``logits`` by (framing, cut))."""
    effect: dict[str, dict[str, float]] = {}
    for (framing, cut), values in logits.items():
        figures = external_metrics(calibrated(values, temperature), y_true, threshold)
        effect[f"{framing}, {'cut' if cut else 'kept'}"] = {k: figures[k] for k in EFFECT_FIGURES}
    return effect


def border_table(borders: dict[str, Any], images: int) -> list[str]:
    """What cutting borders did (``border_effect``'s figures), in words and a table: the report's and
    the model card's."""
    lines = [
        f"Uniform borders (letterbox, pillarbox) are cut before the model looks: {borders['cut']} of the "
        f"{images} images had some. The same images centred on wider screens, with black bars:",
        "",
        "| framing | borders | accuracy | macro F1 | Not recognised | named correctly |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for key, figures in borders["figures"].items():
        framing, treatment = key.rsplit(", ", 1)
        cells = " | ".join(f"{figures[k]:.4f}" for k in EFFECT_FIGURES)
        lines.append(f"| {framing} | {treatment} | {cells} |")
    return lines


def markdown(section: dict[str, Any]) -> list[str]:
    """The report's own section for the external set; the test-split figures above it stay as they were."""
    left_out = section["copies_of_run_images"]
    skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(section["skipped"].items())) or "none"
    accepted = "n/a" if section["accepted_accuracy"] is None else f"{section['accepted_accuracy']:.4f}"
    lines = [
        f"## External set: {Path(section['root']).name} ({section['images']} images the run never saw)",
        "",
        f"Folder `{section['root']}`, labelled by its folder names (the alias table of `prepare`); judged "
        f"with the temperature and threshold fitted on validation, as the served model answers. Left out: "
        f"{left_out} exact copies of the run's own images; skipped files: {skipped}."
        + (f" Only the files {only['list']} marks `{only['use']}`." if (only := section.get("only")) else ""),
        "",
        "| metric | value |",
        "| --- | --- |",
        f"| accuracy (top-1) | {section['accuracy']:.4f} |",
        f"| macro F1 (over the {len(section['classes'])} classes present) | {section['macro_f1']:.4f} |",
        f'| "{UNKNOWN_NAME}" (calibrated confidence under {section["unknown_threshold"]:.3f}) '
        f"| {section['not_recognised_rate']:.4f} |",
        f"| named correctly (right game, above the threshold) | {section['named_correctly']:.4f} |",
        f"| accuracy of the answers above the threshold | {accepted} |",
        "",
        *class_table(section["per_class"], extra=[(f'"{UNKNOWN_NAME}"', "not_recognised")]),
    ]
    lines += [
        "",
        "Confusion matrix (top-1 counts; rows true, columns predicted):",
        "",
        "| true \\ predicted | " + " | ".join(DISPLAY_NAMES[label] for label in LABELS) + " |",
        "| --- |" + " --- |" * len(LABELS),
    ]
    for label, row in zip(LABELS, section["confusion_matrix"], strict=True):
        lines.append(f"| {DISPLAY_NAMES[label]} | " + " | ".join(str(n) for n in row) + " |")
    lines += ["", "![external confusion matrix](external_confusion_matrix.png)", ""]
    if "borders" in section:
        lines += [*border_table(section["borders"], section["images"]), ""]
    return lines
