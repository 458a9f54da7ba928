"""Test-split metrics, calibration and the "unknown" threshold for a trained run.

The temperature and the threshold are fitted on the validation split only, then judged on test, so
the reported figures are not tuned on the data they describe. ``--external DIR`` adds a section for a
set from outside the run's data (``training.external``); when the report already holds this
checkpoint's test figures, that section is all it computes, and the rest of the report stays as it was.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

from inference.borders import trim_borders
from inference.labels import LABELS
from inference.preprocessing import eval_transform
from inference.scoring import calibrated, known
from training.calibration import expected_calibration_error, fit_temperature, unknown_threshold
from training.checkpoint import checkpoint_preprocessing, load_for_inference
from training.class_table import class_table
from training.data import IMAGE_FORMATS, Row, make_loader, open_rgb, read_manifest
from training.external import (
    AS_SENT,
    EFFECT_FIGURES,
    border_effect,
    external_metrics,
    external_rows,
    framings,
    listed_files,
)
from training.external import markdown as external_markdown
from training.metrics import macro_f1
from training.plots import plot_confusion, plot_reliability
from training.prepare import PrepareError, class_folders
from training.presets import eval_preset
from training.train import predict


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="run directory with checkpoints/best.pt")
    parser.add_argument("--checkpoint", default="best", help="best or last (default best)")
    parser.add_argument("--ood-dir", type=Path, help="images of other games/photos: share flagged unknown")
    parser.add_argument(
        "--external",
        type=Path,
        help="folder-per-class images from outside the run's data (same folder names as prepare): "
        "accuracy, macro-F1, per-class table, confusion matrix and Not-recognised rate in their own "
        "section (default: none)",
    )
    parser.add_argument(
        "--external-list",
        type=Path,
        help="a TSV with `file` (relative to --external) and `use` columns, such as the screenshots' "
        "feedback_split.tsv: only its files whose use is --external-use are judged (default: every file)",
    )
    parser.add_argument(
        "--external-use", default="holdout", help="the `use` --external-list keeps (default holdout)"
    )
    parser.add_argument(
        "--keep",
        type=float,
        default=0.95,
        help="share of correct validation answers the unknown threshold keeps (default 0.95)",
    )
    parser.add_argument(
        "--target-accuracy",
        type=float,
        default=0.95,
        help="min accuracy of accepted validation answers (default 0.95)",
    )
    parser.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    parser.add_argument("--workers", type=int, default=1, help="data-loading processes (default 1)")


def reviewed_calibration(run_dir: Path) -> dict[str, Any] | None:
    """The calibration ``training refresh`` fitted on real reviewed images, which evaluating the run on its
    (synthetic) validation split must not replace; None for a run calibrated here."""
    path = run_dir / "calibration.json"
    found = json.loads(path.read_text()) if path.is_file() else {}
    return dict(found) if found.get("source") == "reviewed" else None


def _probs(logits: torch.Tensor, temperature: float = 1.0) -> np.ndarray:
    return calibrated(logits.numpy(), temperature)  # the handler's own function (inference.scoring)


def _ood_rows(ood_dir: Path) -> list[Row]:
    from PIL import Image

    rows = []
    for path in sorted(p for p in ood_dir.rglob("*") if p.is_file()):
        try:
            with Image.open(path, formats=IMAGE_FORMATS):
                rows.append(Row(path, LABELS[0], -1, "ood"))  # label unused
        except OSError:
            continue
    return rows


def _logits(
    model: torch.nn.Module, checkpoint: dict[str, Any], rows: list[Row], args: argparse.Namespace
) -> tuple[torch.Tensor, torch.Tensor]:
    transform = eval_preset(checkpoint_preprocessing(checkpoint))
    loader = make_loader(rows, transform, args.batch_size, args.workers, shuffle=False)
    return predict(model, loader, torch.device("cpu"))


def evaluate(
    args: argparse.Namespace, model: torch.nn.Module, checkpoint: dict[str, Any], digest: str
) -> dict[str, Any]:
    run_dir: Path = args.run_dir
    rows = read_manifest(run_dir)

    def logits_for(split_rows: list[Row]) -> tuple[torch.Tensor, torch.Tensor]:
        return _logits(model, checkpoint, split_rows, args)

    test_logits, test_labels = logits_for([r for r in rows if r.split == "test"])
    fixed = reviewed_calibration(run_dir)
    if fixed is not None:
        temperature, threshold = fixed["temperature"], fixed["unknown_threshold"]
    else:
        val_logits, val_labels = logits_for([r for r in rows if r.split == "val"])
        temperature = fit_temperature(val_logits, val_labels)
        val_probs = _probs(val_logits, temperature)
        threshold = unknown_threshold(val_probs, val_labels.numpy(), args.keep, args.target_accuracy)

    y_true = test_labels.numpy()
    raw, after = _probs(test_logits), _probs(test_logits, temperature)
    y_pred = after.argmax(1)
    accepted = known(after, threshold)
    top2 = np.argsort(-after, axis=1)[:, :2]
    report: dict[str, Any] = {
        "arch": checkpoint["arch"],
        "checkpoint": args.checkpoint,
        "checkpoint_sha256": digest,
        "keep": args.keep,
        "target_accuracy": args.target_accuracy,
        "epoch": int(checkpoint["epoch"]),
        "test_images": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": macro_f1(y_true, y_pred),
        "weighted_f1": float(f1_score(y_true, y_pred, average="weighted", zero_division=0)),
        "top2_accuracy": float((top2 == y_true[:, None]).any(1).mean()),
        "per_class": classification_report(
            y_true,
            y_pred,
            labels=range(len(LABELS)),
            target_names=list(LABELS),
            output_dict=True,
            zero_division=0,
        ),
        "temperature": temperature,
        "calibrated_on": "validation" if fixed is None else f"{fixed['images']} reviewed real images",
        "ece_before": expected_calibration_error(raw, y_true),
        "ece_after": expected_calibration_error(after, y_true),
        "unknown_threshold": threshold,
        "unknown_coverage": float(accepted.mean()),
        "unknown_accuracy": float((y_pred[accepted] == y_true[accepted]).mean()) if accepted.any() else 0.0,
    }
    if args.ood_dir:
        ood = _ood_rows(args.ood_dir)
        if ood:
            ood_probs = _probs(logits_for(ood)[0], temperature)
            report["ood_images"] = len(ood)
            report["ood_flagged"] = float((~known(ood_probs, threshold)).mean())

    matrix = confusion_matrix(y_true, y_pred, labels=range(len(LABELS)))
    plot_confusion(matrix, run_dir / "confusion_matrix.png", normalised=False)
    row_sums = matrix.sum(1, keepdims=True)
    plot_confusion(
        np.divide(matrix, row_sums, out=np.zeros(matrix.shape), where=row_sums > 0),
        run_dir / "confusion_matrix_normalized.png",
        normalised=True,
    )
    plot_reliability(raw, after, y_true, run_dir / "reliability.png")
    return report


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Evaluation: {report['arch']} (epoch {report['epoch'] + 1}, {report['test_images']} test images)",
        "",
        "| metric | value |",
        "| --- | --- |",
        f"| accuracy | {report['accuracy']:.4f} |",
        f"| macro F1 | {report['macro_f1']:.4f} |",
        f"| weighted F1 | {report['weighted_f1']:.4f} |",
        f"| top-2 accuracy | {report['top2_accuracy']:.4f} |",
        f"| temperature (fitted on {report.get('calibrated_on', 'validation')}) "
        f"| {report['temperature']:.3f} |",
        f"| ECE before / after | {report['ece_before']:.4f} / {report['ece_after']:.4f} |",
        f"| unknown threshold | {report['unknown_threshold']:.3f} |",
        f"| coverage / accuracy above it | {report['unknown_coverage']:.3f} "
        f"/ {report['unknown_accuracy']:.4f} |",
    ]
    if "ood_flagged" in report:
        flagged = round(report["ood_flagged"] * report["ood_images"])
        lines.append(
            f"| out-of-distribution images called unknown | {flagged} "
            f"of {report['ood_images']} ({report['ood_flagged']:.3f}) |"
        )
    # sklearn's report holds its averages beside the classes: only the games go in the table.
    per_class = {
        label: {**report["per_class"][label], "f1": report["per_class"][label]["f1-score"]}
        for label in LABELS
    }
    lines += ["", *class_table(per_class)]
    lines += [
        "",
        "![confusion matrix](confusion_matrix.png)",
        "![row-normalised](confusion_matrix_normalized.png)",
        "![reliability](reliability.png)",
        "",
    ]
    if "external" in report:
        lines += external_markdown(report["external"])
    return "\n".join(lines)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _kept_report(args: argparse.Namespace, digest: str) -> dict[str, Any] | None:
    """The report already on disk when it describes this checkpoint with these threshold settings."""
    path = args.run_dir / "report.json"
    if args.ood_dir or not path.is_file():
        return None
    report = json.loads(path.read_text())
    same = (report.get("checkpoint_sha256"), report.get("keep"), report.get("target_accuracy"))
    return report if same == (digest, args.keep, args.target_accuracy) else None


def _framed_logits(
    model: torch.nn.Module, checkpoint: dict[str, Any], rows: list[Row]
) -> tuple[dict[tuple[str, bool], np.ndarray], int]:
    """Logits of every external image in each framing (training.external.framings), borders cut and
    kept (as sent and cut is the section's own), and how many images as sent had borders to cut. Each
    image is decoded once: the set may hold 4K PNGs."""
    pre = checkpoint_preprocessing(checkpoint)
    found: dict[tuple[str, bool], list[np.ndarray]] = {}
    cut = 0
    model.eval()
    for row in rows:
        image = open_rgb(row.path)
        cut += trim_borders(image) is not image
        shown = framings(image)
        keys = [(name, c) for name in shown for c in (True, False) if (name, c) != (AS_SENT, True)]
        arrays = np.stack([eval_transform(shown[name], pre, cut_borders=c) for name, c in keys])
        with torch.inference_mode():
            logits = model(torch.from_numpy(arrays)).float().numpy()
        for key, values in zip(keys, logits, strict=True):
            found.setdefault(key, []).append(values)
    return {key: np.stack(values) for key, values in found.items()}, cut


def external_section(
    args: argparse.Namespace, model: torch.nn.Module, checkpoint: dict[str, Any], report: dict[str, Any]
) -> dict[str, Any]:
    only = listed_files(args.external_list, args.external_use) if args.external_list else None
    rows, left_out = external_rows(args.external, args.run_dir, max(1, args.workers), only)
    if not rows:
        raise PrepareError(f"no images under {args.external} that the run has not already seen")
    logits, labels = _logits(model, checkpoint, rows, args)
    probs = _probs(logits, report["temperature"])
    section = {"root": str(args.external.resolve()), **left_out}
    if only is not None:
        section["only"] = {"list": args.external_list.name, "use": args.external_use}
    section.update(external_metrics(probs, labels.numpy(), report["unknown_threshold"]))
    framed, cut = _framed_logits(model, checkpoint, rows)
    figures = {f"{AS_SENT}, cut": {k: section[k] for k in EFFECT_FIGURES}}
    figures.update(border_effect(framed, labels.numpy(), report["temperature"], report["unknown_threshold"]))
    section["borders"] = {"cut": cut, "figures": figures}
    plot_confusion(
        np.array(section["confusion_matrix"]),
        args.run_dir / "external_confusion_matrix.png",
        normalised=False,
        title=f"{args.external.resolve().name}: confusion matrix (counts)",
    )
    return section


def main(args: argparse.Namespace) -> int:
    run_dir: Path = args.run_dir
    try:
        if args.external:
            class_folders(args.external)  # an unknown folder fails before any model runs
    except PrepareError as exc:
        print(f"evaluate: error: --external: {exc}")
        return 2
    checkpoint_path = run_dir / "checkpoints" / f"{args.checkpoint}.pt"
    model, checkpoint = load_for_inference(checkpoint_path)
    digest = file_sha256(checkpoint_path)
    kept = _kept_report(args, digest) if args.external else None
    if kept is None:
        report = evaluate(args, model, checkpoint, digest)
        if reviewed_calibration(run_dir) is None:
            calibration = {
                "temperature": report["temperature"],
                "unknown_threshold": report["unknown_threshold"],
            }
            (run_dir / "calibration.json").write_text(json.dumps(calibration, indent=2))
        print(
            f"evaluate: test accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f}, "
            f"ECE {report['ece_before']:.4f} -> {report['ece_after']:.4f} (T={report['temperature']:.3f}), "
            f"unknown below {report['unknown_threshold']:.3f}"
            + (f", OOD flagged {report['ood_flagged']:.3f}" if "ood_flagged" in report else "")
        )
    else:
        report = kept
        print("evaluate: test-split figures kept from report.json (same checkpoint and threshold settings)")
    if args.external:
        try:
            report["external"] = section = external_section(args, model, checkpoint, report)
        except PrepareError as exc:
            print(f"evaluate: error: --external: {exc}")
            return 2
        print(
            f"evaluate: external {section['images']} images ({Path(section['root']).name}): "
            f"accuracy {section['accuracy']:.4f}, macro-F1 {section['macro_f1']:.4f}, "
            f"Not recognised {section['not_recognised_rate']:.4f}, named correctly "
            f"{section['named_correctly']:.4f}; left out {section['copies_of_run_images']} copies of "
            f"run images, skipped {section['skipped'] or 'none'}"
        )
    (run_dir / "report.json").write_text(json.dumps(report, indent=2))
    (run_dir / "report.md").write_text(markdown(report))
    print(f"evaluate: report -> {run_dir / 'report.md'}")
    return 0
