"""Package a run's best checkpoint as a TorchServe archive (``model_store/<name>.mar``).

The serving forms that fit on a CPU (eager, TorchScript, ONNX Runtime) are each checked against the
training-side model on the same test images and timed; the archive ships the fastest form whose logits
match within ``--tolerance``, unless ONNX Runtime int8 (training.quantize) is faster at batch 1 and 4
on this machine and its test macro-F1 is at most ``--int8-max-f1-drop`` points below the float model's.
The eager weights always travel too: Grad-CAM needs gradients.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from inference.answer_mix import answer_mix
from inference.labels import LABELS, UNKNOWN_LABEL, index_to_name
from inference.onnx_runner import OnnxRunner, Runner
from inference.preprocessing import eval_transform
from inference.reviewed import Answers
from inference.runtime import FORMS, TorchRunner, load_torchscript
from inference.scoring import calibrated, known
from ops import declared
from ops.names import checked_name
from ops.settings import DECLARED_FILE_NAME
from training import model_card
from training.checkpoint import checkpoint_preprocessing, load_for_inference
from training.data import Row, open_rgb, read_manifest
from training.form_choice import choose_form, compare_forms
from training.model_meta import calibration_of, model_meta
from training.quantize import quantize_int8
from training.reviewed_set import HOLDOUT_SPLIT

REPO = Path(__file__).resolve().parents[1]
SERIALIZED_FILES = {
    "onnx-int8": "model.int8.onnx",
    "onnx": "model.onnx",
    "torchscript": "model.torchscript.pt",
    "eager": "weights.pt",
}
# What the handler imports inside the TorchServe worker: the shared core and the handler, whole.
PACKAGES = ("inference", "handler")
CARD_FILE = "model_card.json"  # the handler's description carries it (handler.fromsoft_handler)


def batch_delay(text: str) -> int:
    """TorchServe 0.12 reads a ``maxBatchDelay`` of 0 in an archive as unset and waits 100 ms."""
    delay = int(text)
    if delay < 1:
        raise argparse.ArgumentTypeError(
            "at least 1: TorchServe reads 0 in an archive as unset and waits its default 100 ms"
        )
    return delay


def model_name(text: str) -> str:
    """A name torch-model-archiver accepts (ops.names): the archive is written as ``<name>.mar`` in the
    model store, so a name with a slash or a leading dot could otherwise place it outside the store or
    hide it; the version names the archive in the declared state and in URLs alike."""
    try:
        return checked_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="run directory with checkpoints/best.pt")
    parser.add_argument("--model-store", type=Path, default=REPO / "model_store", help="default model_store/")
    parser.add_argument("--name", type=model_name, default="fromsoft", help="model name (default fromsoft)")
    parser.add_argument(
        "--archive-name",
        type=model_name,
        help="file name in the store without .mar (default: the model name; use another to add a version)",
    )
    parser.add_argument("--version", type=model_name, default="1.0", help="model version (default 1.0)")
    parser.add_argument(
        "--form",
        default="auto",
        choices=("auto", *FORMS),
        help="serving form; auto = fastest that matches (default auto)",
    )
    parser.add_argument("--tolerance", type=float, default=1e-4, help="max |logit difference| (default 1e-4)")
    # From make bench's sweep (docs/performance-log.md, The whole stack: what was changed for speed, and
    # what each gave): 1 ms is the shortest wait an archive can carry, and batches of 4 still gather
    # within it at concurrency 8; a 5 ms wait cost a lone visitor about 4 ms.
    parser.add_argument("--batch-size", type=int, default=4, help="TorchServe batch size (default 4)")
    parser.add_argument(
        "--max-batch-delay",
        type=batch_delay,
        default=1,
        help="TorchServe max batch delay, ms, at least 1 (default 1)",
    )
    parser.add_argument("--threads", type=int, default=2, help="inference threads per worker (default 2)")
    parser.add_argument("--timing-runs", type=int, default=20, help="timed runs per form (default 20)")
    parser.add_argument(
        "--int8-max-f1-drop",
        type=float,
        default=0.5,
        help="int8 ships only if its test macro-F1 is at most this many points lower (default 0.5)",
    )
    parser.add_argument(
        "--calibration-images", type=int, default=96, help="training images that calibrate int8 (default 96)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="overwrite an archive of the same file name, or reuse a version the model store declares",
    )


def refusal(args: argparse.Namespace) -> str | None:
    """Why this export must not run without ``--force``: archives are immutable once in the store (a
    replica may serve one, and its digest keys cached answers), and a declared version names one archive."""
    target = args.model_store / f"{args.archive_name or args.name}.mar"
    if target.exists():
        return f"{target} exists: export under another --archive-name (and --version), or --force"
    declared_file = args.model_store / DECLARED_FILE_NAME
    try:
        state = declared.parse(declared_file.read_text())
    except FileNotFoundError:
        return None
    except declared.InvalidDeclarationError as exc:
        return f"{declared_file} is invalid ({exc}); mend it before exporting"
    model = state.models.get(args.name)
    if model is not None and args.version in model.versions:
        archive = model.versions[args.version].archive
        return (
            f"{args.name} {args.version} is already declared in {declared_file} ({archive}): "
            "use another --version, or --force"
        )
    return None


def split_images(run_dir: Path, split: str, count: int | None = None) -> list[Row]:
    """Up to ``count`` rows of ``split``, spread over the whole split (every class, every clip)."""
    rows = [r for r in read_manifest(run_dir) if r.split == split]
    step = max(1, len(rows) // count) if count else 1
    return rows[::step][:count]


def test_set(run_dir: Path, checkpoint: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The test split as the model sees it (images) and its label indices."""
    rows = split_images(run_dir, "test")
    return preprocess(rows, checkpoint), np.array([LABELS.index(r.label) for r in rows])


def preprocess(rows: list[Row], checkpoint: dict[str, Any]) -> np.ndarray:
    pre = checkpoint_preprocessing(checkpoint)
    return np.stack([eval_transform(open_rgb(r.path), pre) for r in rows])


def build_forms(
    model: torch.nn.Module,
    example: torch.Tensor,
    out: Path,
    threads: int,
    calibration: np.ndarray | None = None,
) -> dict[str, tuple[Path, Runner]]:
    """Every serving form of ``model`` written to ``out``; int8 too when ``calibration`` images are given."""
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
    if calibration is not None:
        int8 = quantize_int8(out / "model.onnx", out / SERIALIZED_FILES["onnx-int8"], list(calibration))
        forms["onnx-int8"] = (int8, OnnxRunner(int8, threads))
    return forms


def answers_on(runner: Runner, images: np.ndarray, calibration: dict[str, float]) -> dict[str, Any]:
    """What the shipped form answers on ``images`` (the test split), as drift is measured in service
    (inference.answer_mix): the reference the gateway exports beside its own counts."""
    logits = np.concatenate([runner(images[i : i + 16]) for i in range(0, len(images), 16)])
    probs = calibrated(logits, calibration["temperature"])
    named = known(probs, calibration["unknown_threshold"])
    labels = [LABELS[i] if ok else UNKNOWN_LABEL for i, ok in zip(probs.argmax(1), named, strict=True)]
    return answer_mix(labels, probs.max(1).tolist(), LABELS)


def held_out_answers(
    forms: dict[str, tuple[Path, Runner]], run_dir: Path, checkpoint: dict[str, Any]
) -> dict[str, Answers] | None:
    """How each form answers the reviewed images a refreshed run held out (training.refresh), with the
    run's calibration: the figures its card and ``ops.models promote`` compare with the default's, and
    which choose_form weighs int8 by. None for a run that holds none out."""
    rows = [r for r in read_manifest(run_dir) if r.split == HOLDOUT_SPLIT]
    if not rows:
        return None
    images, calibration = preprocess(rows, checkpoint), calibration_of(run_dir)
    labels = np.array([LABELS.index(r.label) for r in rows])
    answers = {}
    for name, (_, runner) in forms.items():
        logits = np.concatenate([runner(images[i : i + 16]) for i in range(0, len(images), 16)])
        probs = calibrated(logits, calibration["temperature"])
        answers[name] = Answers.of(probs, labels, calibration["unknown_threshold"])
    return answers


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


def stage_files(
    stage: Path, meta: dict[str, Any], forms_dir: Path, form: str, card: dict[str, Any] | None
) -> list[Path]:
    """The archive's extra files: the handler's packages (the shared core and the handler, whole),
    the model's description, its card (training.model_card) and, beside any other form, the eager
    weights Grad-CAM needs."""
    # The archiver copies a folder's contents to the archive root: packages go one level down.
    packages = stage / "packages"
    for package in PACKAGES:
        shutil.copytree(REPO / package, packages / package, ignore=shutil.ignore_patterns("__pycache__"))
    (stage / "model_meta.json").write_text(json.dumps(meta, indent=2))
    (stage / "index_to_name.json").write_text(json.dumps(index_to_name(), indent=2))
    extra = [packages, stage / "model_meta.json", stage / "index_to_name.json"]
    if card is not None:
        (stage / CARD_FILE).write_text(json.dumps(card, indent=2))
        (stage / "MODEL_CARD.md").write_text(model_card.markdown(card))
        extra += [stage / CARD_FILE, stage / "MODEL_CARD.md"]
    if form != "eager":
        shutil.copy(forms_dir / "weights.pt", stage / "weights.pt")
        extra.append(stage / "weights.pt")
    return extra


def card_of(args: argparse.Namespace) -> dict[str, Any] | None:
    """The run's model card, or None (with a warning) for a run that was never evaluated."""
    try:
        return model_card.build(args.run_dir, args.name, args.version)
    except FileNotFoundError as exc:
        print(f"export: warning: no model card: {exc}")
        return None


def archive(
    args: argparse.Namespace,
    checkpoint: dict[str, Any],
    form: str,
    forms_dir: Path,
    comparison: dict[str, Any],
    reference: dict[str, Any],
) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp)
        meta = model_meta(args.run_dir, checkpoint, form, comparison, reference)
        extra = stage_files(stage, meta, forms_dir, form, card_of(args))
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
    if not args.force and (why := refusal(args)) is not None:
        print(f"export: error: {why}")
        return 2
    model, checkpoint = load_for_inference(args.run_dir / "checkpoints" / "best.pt")
    torch.set_num_threads(args.threads)
    test = test_set(args.run_dir, checkpoint)
    calibration = preprocess(split_images(args.run_dir, "train", args.calibration_images), checkpoint)
    batch = torch.from_numpy(test[0][:8])
    forms_dir = args.run_dir / "serving"
    forms = build_forms(model, batch, forms_dir, args.threads, calibration)
    comparison = compare_forms(forms, batch, args.timing_runs, test)
    for name, f in comparison.items():
        print(
            f"export: {name:<11} max |diff| {f['max_abs_diff']:.1e}, {f['images_per_second_batch_1']:.1f} / "
            f"{f['images_per_second_batch_4']:.1f} images/s at batch 1 / 4, "
            f"test macro-F1 {f['test_macro_f1']:.4f}"
        )
    held_out = held_out_answers(forms, args.run_dir, checkpoint)
    if args.form == "auto":
        try:
            form, why = choose_form(comparison, args.tolerance, args.int8_max_f1_drop, held_out)
        except ValueError as exc:
            print(f"export: error: {exc}")
            return 2
    else:
        form, why = args.form, "asked for with --form"
    shipped = {"forms": comparison, "shipped": form, "why": why}
    if held_out is not None:
        shipped["reviewed_held_out"] = asdict(held_out[form])
        print(f"export: reviewed held-out images, as {form} answers them: {held_out[form]}")
    (args.run_dir / "serving_forms.json").write_text(json.dumps(shipped, indent=2))
    reference = answers_on(forms[form][1], test[0], calibration_of(args.run_dir))
    path = archive(args, checkpoint, form, forms_dir, shipped, reference)
    print(f"export: {path} ({form}, version {args.version}): {why}")
    return 0
