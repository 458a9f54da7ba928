"""Which serving form export ships: every form measured on the same images (its logits against eager
PyTorch's, latency and images per second at batch 1 and 4, test macro-F1), and the fastest exact one
chosen, or int8 when it is faster and accurate enough: on the test split, and for a run retrained on
reviewed screenshots (training.refresh) on the real ones it held out too, where int8's coarser logits
can lift a wrong game over the "Not recognised" threshold that was calibrated on the exact model's
(measured on the feedback screenshots: 2 of 45 answers moved from "Not recognised" to a wrong game,
both among the 12 held out, whichever images calibrated int8's ranges). `make bench` measures the
forms with the same function (benchmarks/suite/forms.py)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import torch

from inference.onnx_runner import Runner
from inference.reviewed import Answers
from inference.runtime import FORMS
from training.metrics import macro_f1


def _images_per_second(runner: Runner, batch: np.ndarray, runs: int) -> float:
    runner(batch)  # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        runner(batch)
        times.append(time.perf_counter() - started)
    return len(batch) / statistics.median(times)


def compare_forms(
    forms: dict[str, tuple[Path, Runner]], batch: torch.Tensor, runs: int, test: tuple[np.ndarray, np.ndarray]
) -> dict[str, dict[str, float]]:
    """Per form: max |logit difference| against eager, median latency at batch 1, images per second at
    batch 1 and 4, and macro-F1 on ``test`` (images, labels)."""
    reference = forms["eager"][1](batch.numpy())
    images, labels = test
    results = {}
    for name, (_, runner) in forms.items():
        logits = np.concatenate([runner(images[i : i + 16]) for i in range(0, len(images), 16)])
        per_second = {size: _images_per_second(runner, batch[:size].numpy(), runs) for size in (1, 4)}
        results[name] = {
            "max_abs_diff": float(np.abs(runner(batch.numpy()) - reference).max()),
            "median_ms": 1000 / per_second[1],
            "images_per_second_batch_1": per_second[1],
            "images_per_second_batch_4": per_second[4],
            "test_macro_f1": macro_f1(labels, logits.argmax(1)),
        }
    return results


def choose_form(
    comparison: dict[str, dict[str, float]],
    tolerance: float,
    max_f1_drop: float,
    held_out: dict[str, Answers] | None = None,
) -> tuple[str, str]:
    """The form to ship and why: the fastest exact one, or int8 when faster and accurate enough.
    ``held_out``: each form's answers on the reviewed images a refreshed run held out, if it has any;
    int8 must name no more of them wrong, and no fewer right, than the exact form."""
    exact = [n for n in FORMS if n in comparison and comparison[n]["max_abs_diff"] <= tolerance]
    if not exact:
        raise ValueError(f"no serving form matches the trained model within {tolerance}")
    fastest = min(exact, key=lambda n: comparison[n]["median_ms"])
    if "onnx-int8" not in comparison:
        return fastest, f"the fastest form within {tolerance:g} of the trained model's logits"
    base, int8 = comparison[fastest], comparison["onnx-int8"]
    speed = {
        size: int8[f"images_per_second_batch_{size}"] / base[f"images_per_second_batch_{size}"]
        for size in (1, 4)
    }
    drop = 100 * (base["test_macro_f1"] - int8["test_macro_f1"])
    figures = (
        f"int8 {speed[1]:.2f}x / {speed[4]:.2f}x the images/s of {fastest} at batch 1 / 4, test macro-F1 "
        f"{int8['test_macro_f1']:.4f} against {base['test_macro_f1']:.4f}"
    )
    if held_out is not None and (worse := _worse_on_held_out(held_out[fastest], held_out["onnx-int8"])):
        return fastest, f"{figures}; on the reviewed held-out screenshots int8 {worse} than {fastest}"
    if min(speed.values()) > 1.0 and drop <= max_f1_drop:
        accuracy = (
            f"{-drop:.2f} points higher" if drop <= 0 else f"{drop:.2f} points lower (at most {max_f1_drop})"
        )
        return "onnx-int8", f"{figures}: faster, and its macro-F1 is {accuracy}"
    return fastest, f"{figures}: {'not faster' if min(speed.values()) <= 1.0 else 'too inaccurate'} here"


def _worse_on_held_out(exact: Answers, int8: Answers) -> str | None:
    """What int8 does worse than the exact form on the reviewed held-out images, or None."""
    if int8.named_wrong > exact.named_wrong:
        return f"names more wrong ({int8.named_wrong} against {exact.named_wrong})"
    if int8.named_right < exact.named_right:
        return f"names fewer right ({int8.named_right} against {exact.named_right})"
    return None
