"""``python -m training refresh RUN --reviewed OUT --out NEW_RUN``: a run retrained on the screenshots
moderators reviewed (``python -m ops.feedback export OUT``), ready for ``training export``.

The new run keeps the parent's split of its base data, its backbone and its preprocessing; its manifest
holds the parent's rows plus the reviewed images, marked ``train``, ``reviewed_calibration`` (fine-tuning's
calibration part) or ``reviewed_holdout``. A stratified, seeded part of the reviewed set (``--holdout-share``)
is held out of training and of calibration; the new model and the default (``--default-archive``, the
archive served now, as it answers; else the parent run's checkpoint) are both measured on it and on the
base test split, and ``refresh.json`` records it all for the model card and ``ops.models promote``. The
temperature and the "Not recognised" threshold are fitted on real reviewed images the scoring model never
trained on (training.refresh_fit), the threshold as the lowest at which conformal risk control bounds the
expected share of new screenshots named a wrong game by ``--max-wrong``.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import time
from collections import Counter
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inference.labels import LABELS
from inference.reviewed import Answers
from inference.scoring import calibrated
from training import evaluate, served_archive
from training.backbones import get_spec, with_stage_statistics
from training.calibration import fewest_images_to_name, fit_temperature, risk_controlled_threshold
from training.checkpoint import checkpoint_preprocessing, load_for_inference, save_checkpoint
from training.cli import args_dict, save_args
from training.data import Row, read_manifest
from training.external import run_hashes
from training.metrics import macro_f1
from training.prepare import data_kind
from training.refresh_args import add_arguments as add_arguments  # python -m training reads it here
from training.refresh_fit import Fitted, base_rows, calibration_labels, fit, parts
from training.reviewed_set import (
    HOLDOUT_SPLIT,
    ReviewedExportError,
    ReviewedImage,
    export_digest,
    hold_out,
    read_export,
)

CALIBRATION_SPLIT = "reviewed_calibration"


class RefreshError(ValueError):
    """The refresh cannot run as asked; the message says why."""


def _json(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def _checked(args: argparse.Namespace) -> list[ReviewedImage]:
    parent, out = args.run_dir, args.out
    for name in ("manifest.csv", "class_weights.json", "calibration.json", "checkpoints/best.pt"):
        if not (parent / name).is_file():
            raise RefreshError(f"{parent / name} is missing: refresh an evaluated run (train, then evaluate)")
    if out.resolve() == parent.resolve():
        raise RefreshError("--out must be a new run directory, not the parent run")
    if (out / "checkpoints" / "best.pt").exists() and not args.force:
        raise RefreshError(f"{out} already holds a model: another --out, or --force")
    if not all(0 < share < 1 for share in (args.holdout_share, args.real_share, args.max_wrong)):
        raise RefreshError("--holdout-share, --real-share and --max-wrong are fractions between 0 and 1")
    if args.default_archive is not None and not args.default_archive.is_file():
        raise RefreshError(f"--default-archive {args.default_archive}: no such archive")
    try:
        images = read_export(args.reviewed)
    except ReviewedExportError as exc:
        raise RefreshError(f"--reviewed: {exc}") from None
    seen = run_hashes(parent)
    if again := [image.sha256[:12] for image in images if image.sha256 in seen]:
        raise RefreshError(f"reviewed images already in the parent run's data: {', '.join(again[:5])}")
    return images


def write_data(parent: Path, out: Path, fitted: Fitted, held: list[ReviewedImage]) -> None:
    """The new run's manifest (the parent's rows, then the reviewed images with their part), class
    weights and data report: what ``evaluate``, ``export`` and the model card read."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(parent / "class_weights.json", out / "class_weights.json")
    with (parent / "manifest.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    first_group = max((int(r["group"]) for r in rows), default=-1) + 1
    trained = {image.sha256 for image in fitted.trained}
    parts = [(image, "train") for image in fitted.trained]
    parts += [(image, CALIBRATION_SPLIT) for image in fitted.calibration if image.sha256 not in trained]
    parts += [(image, HOLDOUT_SPLIT) for image in held]
    with (out / "manifest.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "label", "group", "split", "sha256"])
        writer.writeheader()
        writer.writerows(rows)
        for offset, (image, split) in enumerate(parts):
            writer.writerow(
                {
                    "path": str(image.path),
                    "label": image.label,
                    "group": first_group + offset,
                    "split": split,
                    "sha256": image.sha256,
                }
            )
    report = _json(parent / "prepare_report.json") if (parent / "prepare_report.json").is_file() else {}
    images = int(report.get("images", sum(1 for r in rows if r["split"] == "train"))) + len(fitted.trained)
    synthetic = int(report.get("synthetic_images", 0)) + sum(image.synthetic for image in fitted.trained)
    counts = report.setdefault("counts", {}).setdefault("train", {label: 0 for label in LABELS})
    for label, n in Counter(image.label for image in fitted.trained).items():
        counts[label] = counts.get(label, 0) + n
    report.update(
        images=images,
        synthetic_images=synthetic,
        data_kind=data_kind(synthetic, images),
        reviewed_images=len(fitted.trained),
    )
    (out / "prepare_report.json").write_text(json.dumps(report, indent=2))


def calibrate(fitted: Fitted, max_wrong: float) -> dict[str, Any]:
    logits = torch.from_numpy(fitted.calibration_logits)
    labels = calibration_labels(fitted)
    temperature = fit_temperature(logits, torch.from_numpy(labels))
    threshold = risk_controlled_threshold(calibrated(logits.numpy(), temperature), labels, max_wrong)
    return {
        "temperature": temperature,
        "unknown_threshold": threshold,
        "source": "reviewed",
        "images": len(labels),
        "how": fitted.calibration_how,
        "max_wrong": max_wrong,
    }


def save_model(
    out: Path, fitted: Fitted, parent_checkpoint: dict[str, Any], arch: str, args: argparse.Namespace
) -> None:
    state = {
        "model": fitted.model.state_dict(),
        "epoch": int(parent_checkpoint["epoch"]),
        "args": args_dict(args),
        "arch": arch,
        "class_names": list(LABELS),
        "preprocessing": parent_checkpoint["preprocessing"],
        "best_macro_f1": float(parent_checkpoint.get("best_macro_f1", -1.0)),
        "method": args.method,
    }
    save_checkpoint(out / "checkpoints" / "best.pt", state)


def measured(
    model: served_archive.ServedModel, held: list[Row], test: list[Row], name: str
) -> dict[str, Any]:
    """``model``'s answers on the held-out images and its macro-F1 on the base test split."""
    held_labels = np.array([LABELS.index(r.label) for r in held])
    answers = Answers.of(model.probabilities(held, f"{name}: held-out"), held_labels, model.threshold)
    test_f1 = None
    if test:
        predicted = model.probabilities(test, f"{name}: base test split").argmax(1)
        test_f1 = macro_f1([LABELS.index(r.label) for r in test], predicted)
    return {"answers": asdict(answers), "test_macro_f1": test_f1}


def _default(args: argparse.Namespace, threads: int) -> AbstractContextManager[served_archive.ServedModel]:
    if args.default_archive is not None:
        return served_archive.opened(args.default_archive, threads)
    return nullcontext(served_archive.of_run(args.run_dir))


def _evaluate(out: Path, parent: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The new run's test-split report (``evaluate``, keeping the calibration fitted here)."""
    parser = argparse.ArgumentParser()
    evaluate.add_arguments(parser)
    photos = parent / "photos"
    argv = [str(out), "--batch-size", str(args.batch_size), "--workers", str(args.workers)]
    evaluate.main(parser.parse_args(argv + (["--ood-dir", str(photos)] if photos.is_dir() else [])))
    return _json(out / "report.json")


def refresh(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    images = _checked(args)
    train_part, held = hold_out(images, args.holdout_share, args.seed)
    calibrating = len(parts(args.method, train_part, args.seed)[1])
    if calibrating < (fewest := fewest_images_to_name(args.max_wrong)):
        raise RefreshError(
            f"{calibrating} reviewed images to calibrate on ({args.method}): naming any game with at most "
            f"{args.max_wrong:g} of new screenshots named wrong needs {fewest}; review more, or --max-wrong"
        )
    model, checkpoint = load_for_inference(args.run_dir / "checkpoints" / "best.pt")
    arch = checkpoint["arch"]
    if args.method != "finetune" and args.embedding == "stages":
        model, arch = with_stage_statistics(model, arch)
    spec = get_spec(arch)
    if checkpoint_preprocessing(checkpoint) != spec.preprocessing:
        raise RefreshError(f"{args.run_dir}'s preprocessing differs from its backbone's: retrain it")
    parent_rows = read_manifest(args.run_dir)
    class_weights = _json(args.run_dir / "class_weights.json")["weights"]
    base = base_rows(parent_rows, args.base_per_class if args.method != "finetune" else 0, args.seed)
    fitted = fit(args, model, spec, base, train_part, class_weights)
    calibration = calibrate(fitted, args.max_wrong)
    fitted_seconds = time.perf_counter() - started
    write_data(args.run_dir, args.out, fitted, held)
    save_model(args.out, fitted, checkpoint, arch, args)
    (args.out / "calibration.json").write_text(json.dumps(calibration, indent=2))
    save_args(args, args.out / "refresh_args.yaml")
    report = _evaluate(args.out, args.run_dir, args)
    held_rows = [image.row(HOLDOUT_SPLIT, -1) for image in held]
    test_rows = [r for r in parent_rows if r.split == "test"]
    candidate = measured(served_archive.of_run(args.out), held_rows, [], "new model")
    with _default(args, torch.get_num_threads()) as default:
        default_figures = measured(default, held_rows, test_rows, "default")
        identity = asdict(default.identity)
    record = {
        "parent": {
            "run": args.run_dir.name,
            "checkpoint_sha256": evaluate.file_sha256(args.run_dir / "checkpoints" / "best.pt"),
        },
        "reviewed": {
            "export": args.reviewed.name,
            "digest": export_digest(images),
            "images": len(images),
            "held_out": sorted(image.sha256 for image in held),
            "trained_on": sorted(image.sha256 for image in fitted.trained),
            "holdout_share": args.holdout_share,
            "seed": args.seed,
        },
        "method": args.method,
        "arch": arch,
        "base_frames": len(base),
        "real_share": args.real_share,
        "calibration": calibration,
        "default_model": identity,
        "candidate": {"answers": candidate["answers"], "test_macro_f1": report["macro_f1"]},
        "default": default_figures,
        "seconds": {
            "fit_and_calibrate": round(fitted_seconds, 1),
            "total": round(time.perf_counter() - started, 1),
        },
    }
    (args.out / "refresh.json").write_text(json.dumps(record, indent=2))
    return record


def summary(record: dict[str, Any]) -> str:
    held = len(record["reviewed"]["held_out"])
    candidate, default = Answers(**record["candidate"]["answers"]), Answers(**record["default"]["answers"])
    name = record["default_model"]["version"] or f"the parent run {record['parent']['run']}"
    calibration = record["calibration"]
    return "\n".join(
        [
            f"refresh: {record['method']} ({record['arch']}) on "
            f"{len(record['reviewed']['trained_on'])} reviewed images "
            f"and {record['base_frames']} base frames, {held} held out; {record['seconds']['total']:.0f} s",
            f"refresh: calibrated on {calibration['images']} real images: "
            f"temperature {calibration['temperature']:.3f}, "
            f'"Not recognised" under {calibration["unknown_threshold"]:.3f}',
            f"refresh: held out, new model: {candidate}",
            f"refresh: held out, default ({name}): {default}",
            f"refresh: base test split macro-F1 {record['candidate']['test_macro_f1']:.4f} "
            f"(default {record['default']['test_macro_f1']:.4f})",
        ]
    )


def main(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        record = refresh(args)
    except RefreshError as exc:
        print(f"refresh: error: {exc}")
        return 2
    print(summary(record))
    print(f"refresh: run -> {args.out} (next: python -m training export {args.out} --version NEW)")
    return 0
