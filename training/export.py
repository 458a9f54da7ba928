"""Package a run's best checkpoint as a TorchServe archive (``model_store/<name>.mar``).

The serving forms that fit on a CPU (eager, TorchScript, ONNX Runtime) are each checked against the
training-side model on the same test images and timed; the archive ships the fastest form whose logits
match within ``--tolerance``. The eager weights always travel too: Grad-CAM needs gradients.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from inference.labels import DISPLAY_NAMES, LABELS, index_to_name
from inference.preprocessing import eval_transform
from inference.runtime import FORMS, OnnxRunner, Runner, TorchRunner, load_torchscript
from training.checkpoint import checkpoint_preprocessing, load_for_inference
from training.data import open_rgb, read_manifest

REPO = Path(__file__).resolve().parents[1]
SERIALIZED_FILES = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt", "eager": "weights.pt"}
# What the handler imports inside the TorchServe worker: the shared core and the handler, whole.
PACKAGES = ("inference", "handler")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="run directory with checkpoints/best.pt")
    parser.add_argument("--model-store", type=Path, default=REPO / "model_store", help="default model_store/")
    parser.add_argument("--name", default="fromsoft", help="model name (default fromsoft)")
    parser.add_argument(
        "--archive-name",
        help="file name in the store without .mar (default: the model name; use another to add a version)",
    )
    parser.add_argument("--version", default="1.0", help="model version (default 1.0)")
    parser.add_argument(
        "--form",
        default="auto",
        choices=("auto", *FORMS),
        help="serving form; auto = fastest that matches (default auto)",
    )
    parser.add_argument("--tolerance", type=float, default=1e-4, help="max |logit difference| (default 1e-4)")
    parser.add_argument("--batch-size", type=int, default=4, help="TorchServe batch size (default 4)")
    parser.add_argument(
        "--max-batch-delay", type=int, default=5, help="TorchServe max batch delay, ms (default 5)"
    )
    parser.add_argument("--threads", type=int, default=2, help="inference threads per worker (default 2)")
    parser.add_argument("--timing-runs", type=int, default=20, help="timed runs per form (default 20)")


def sample_batch(run_dir: Path, checkpoint: dict[str, Any], count: int = 8) -> torch.Tensor:
    rows = [r for r in read_manifest(run_dir) if r.split == "test"][:count]
    pre = checkpoint_preprocessing(checkpoint)
    return torch.stack([eval_transform(open_rgb(r.path), pre) for r in rows])


def build_forms(
    model: torch.nn.Module, example: torch.Tensor, out: Path, threads: int
) -> dict[str, tuple[Path, Runner]]:
    out.mkdir(parents=True, exist_ok=True)
    weights = out / "weights.pt"
    torch.save(model.state_dict(), weights)
    forms: dict[str, tuple[Path, Runner]] = {"eager": (weights, TorchRunner(model))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both exporters warn that they are deprecated in torch 2.14
        traced = torch.jit.trace(model, example[:1])
        torch.jit.save(traced, str(out / "model.torchscript.pt"))
        forms["torchscript"] = (out / "model.torchscript.pt", load_torchscript(out / "model.torchscript.pt"))
        torch.onnx.export(
            model,
            (example[:1],),
            str(out / "model.onnx"),
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    forms["onnx"] = (out / "model.onnx", OnnxRunner(out / "model.onnx", threads))
    return forms


def compare_forms(
    forms: dict[str, tuple[Path, Runner]], batch: torch.Tensor, runs: int
) -> dict[str, dict[str, float]]:
    """Max |logit difference| against eager, and median latency at batch 1, per form."""
    reference = forms["eager"][1](batch.numpy())
    results = {}
    one = batch[:1].numpy()
    for name, (_, runner) in forms.items():
        diff = float(np.abs(runner(batch.numpy()) - reference).max())
        runner(one)  # warm-up
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            runner(one)
            times.append((time.perf_counter() - started) * 1000)
        results[name] = {"max_abs_diff": diff, "median_ms": statistics.median(times)}
    return results


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
    run_dir: Path, checkpoint: dict[str, Any], form: str, comparison: dict[str, dict[str, float]]
) -> dict[str, Any]:
    """What the handler needs to answer (labels, preprocessing, calibration) and what the page shows
    about the model (its provenance)."""
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
    }


def model_config(args: argparse.Namespace) -> dict[str, Any]:
    """TorchServe's per-model configuration (batching, workers) and the handler's defaults."""
    return {
        "batchSize": args.batch_size,
        "maxBatchDelay": args.max_batch_delay,
        "responseTimeout": 30,
        "minWorkers": 1,
        "maxWorkers": 1,
        "handler": {"threads": args.threads},
    }


def stage_files(stage: Path, meta: dict[str, Any], forms_dir: Path, form: str) -> list[Path]:
    """The archive's extra files: the handler's packages (the shared core and the handler, whole),
    the model's description and, beside any other form, the eager weights Grad-CAM needs."""
    # The archiver copies a folder's contents to the archive root: packages go one level down.
    packages = stage / "packages"
    for package in PACKAGES:
        shutil.copytree(REPO / package, packages / package, ignore=shutil.ignore_patterns("__pycache__"))
    (stage / "model_meta.json").write_text(json.dumps(meta, indent=2))
    (stage / "index_to_name.json").write_text(json.dumps(index_to_name(), indent=2))
    extra = [packages, stage / "model_meta.json", stage / "index_to_name.json"]
    if form != "eager":
        shutil.copy(forms_dir / "weights.pt", stage / "weights.pt")
        extra.append(stage / "weights.pt")
    return extra


def archive(
    args: argparse.Namespace,
    checkpoint: dict[str, Any],
    form: str,
    forms_dir: Path,
    comparison: dict[str, dict[str, float]],
) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp)
        extra = stage_files(stage, model_meta(args.run_dir, checkpoint, form, comparison), forms_dir, form)
        (stage / "model-config.yaml").write_text(yaml.safe_dump(model_config(args)))
        built = stage / "built"
        built.mkdir()
        archiver = Path(sys.executable).with_name("torch-model-archiver")
        subprocess.run(
            [
                str(archiver),
                *("--model-name", args.name, "--version", args.version),
                *("--serialized-file", str(forms_dir / SERIALIZED_FILES[form])),
                *("--handler", str(REPO / "handler" / "fromsoft_handler.py")),
                *("--extra-files", ",".join(map(str, extra))),
                *("--config-file", str(stage / "model-config.yaml"), "--export-path", str(built)),
            ],
            check=True,
        )
        args.model_store.mkdir(parents=True, exist_ok=True)
        target = args.model_store / f"{args.archive_name or args.name}.mar"
        shutil.move(built / f"{args.name}.mar", target)
    return target


def main(args: argparse.Namespace) -> int:
    model, checkpoint = load_for_inference(args.run_dir / "checkpoints" / "best.pt")
    torch.set_num_threads(args.threads)
    batch = sample_batch(args.run_dir, checkpoint)
    forms_dir = args.run_dir / "serving"
    forms = build_forms(model, batch, forms_dir, args.threads)
    comparison = compare_forms(forms, batch, args.timing_runs)
    (args.run_dir / "serving_forms.json").write_text(json.dumps(comparison, indent=2))
    for name, figures in comparison.items():
        print(f"export: {name:<11} max |diff| {figures['max_abs_diff']:.1e}, {figures['median_ms']:.2f} ms")
    matching = [n for n in FORMS if comparison[n]["max_abs_diff"] <= args.tolerance]
    form = args.form if args.form != "auto" else min(matching, key=lambda n: comparison[n]["median_ms"])
    if comparison[form]["max_abs_diff"] > args.tolerance:
        print(f"export: error: {form} differs by {comparison[form]['max_abs_diff']:.2e} > {args.tolerance}")
        return 2
    path = archive(args, checkpoint, form, forms_dir, comparison)
    print(f"export: {path} ({form}, version {args.version})")
    return 0
