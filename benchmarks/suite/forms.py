"""The serving forms side by side in this process (make bench): float32 ONNX Runtime and int8 beside
eager PyTorch and TorchScript, each on the same test split: images per second at batch 1 and 4, test
macro-F1, and the largest logit difference from the eager model. The forms are the files `training
export` wrote to RUN/serving; the measuring is export's own (training.form_choice.compare_forms)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from inference.labels import LABELS
from inference.onnx_runner import OnnxRunner, Runner
from inference.runtime import TorchRunner, load_eager, load_torchscript
from training.checkpoint import load_checkpoint
from training.export import SERIALIZED_FILES, test_set
from training.form_choice import compare_forms


def measure_forms(run: Path, threads: int = 2, runs: int = 20) -> dict[str, dict[str, float]]:
    checkpoint = load_checkpoint(run / "checkpoints" / "best.pt")
    serving = run / "serving"
    test = test_set(run, checkpoint)
    torch.set_num_threads(threads)
    runners: dict[str, Runner] = {
        "eager": TorchRunner(load_eager(serving / "weights.pt", checkpoint["arch"], len(LABELS))),
        "torchscript": load_torchscript(serving / SERIALIZED_FILES["torchscript"]),
        "onnx": OnnxRunner(serving / SERIALIZED_FILES["onnx"], threads),
    }
    if (serving / SERIALIZED_FILES["onnx-int8"]).is_file():
        runners["onnx-int8"] = OnnxRunner(serving / SERIALIZED_FILES["onnx-int8"], threads)
    forms = {name: (serving / SERIALIZED_FILES[name], runner) for name, runner in runners.items()}
    return compare_forms(forms, torch.from_numpy(test[0][:8]), runs, test)


def shipped(run: Path) -> dict[str, Any]:
    """What export shipped and why (RUN/serving_forms.json)."""
    path = run / "serving_forms.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def markdown(results: dict[str, dict[str, float]], run: Path) -> list[str]:
    lines = [
        "| form | images/s at batch 1 | at batch 4 | test macro-F1 | max logit difference from eager |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['images_per_second_batch_1']:.1f} | {r['images_per_second_batch_4']:.1f} "
            f"| {r['test_macro_f1']:.4f} | {r['max_abs_diff']:.1e} |"
        )
    choice = shipped(run)
    if choice:
        lines += ["", f"`training export` shipped **{choice['shipped']}**: {choice['why']}."]
    return lines
