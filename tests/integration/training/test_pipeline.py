"""The training command line end to end on CPU, as a user runs it."""

import json
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import torch

from inference.labels import LABELS
from inference.preprocessing import eval_transform
from inference.scoring import calibrated, known
from launchers.procs import free_port
from tests.conftest import REPO, run_cli
from training.checkpoint import checkpoint_preprocessing, load_for_inference
from training.data import open_rgb


def test_tiny_model_learns_the_synthetic_games_and_writes_a_full_report(trained_run):
    report = json.loads((trained_run / "report.json").read_text())
    assert report["macro_f1"] >= 0.8, report["macro_f1"]
    for key in (
        "accuracy",
        "weighted_f1",
        "per_class",
        "temperature",
        "ece_before",
        "ece_after",
        "unknown_threshold",
        "top2_accuracy",
    ):
        assert key in report
    assert set(LABELS) <= set(report["per_class"])
    assert report["ece_after"] <= report["ece_before"] + 1e-6
    calibration = json.loads((trained_run / "calibration.json").read_text())
    assert calibration["temperature"] > 0
    assert "macro F1" in (trained_run / "report.md").read_text()
    for png in ("confusion_matrix.png", "confusion_matrix_normalized.png", "reliability.png"):
        assert (trained_run / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_checkpoint_loads_weights_only_with_args_labels_and_preprocessing(trained_run):
    checkpoint = torch.load(trained_run / "checkpoints" / "best.pt", weights_only=True)
    assert checkpoint["arch"] == "tiny"
    assert checkpoint["class_names"] == list(LABELS)
    assert checkpoint["preprocessing"]["crop_size"]
    assert checkpoint["args"]["epochs"] == 6
    assert {"model", "optimizer", "scheduler", "epoch", "best_macro_f1"} <= set(checkpoint)
    assert (trained_run / "train_args.yaml").is_file()


def test_the_share_of_photos_called_unknown_is_what_the_served_answers_would_say(trained_run, tmp_path):
    photos = tmp_path / "photos"
    run_cli("photos", photos)
    out = shutil.copytree(trained_run, tmp_path / "run")
    run_cli("evaluate", out, "--ood-dir", photos)
    report = json.loads((out / "report.json").read_text())
    files = sorted(photos.glob("*.jpg"))
    assert report["ood_images"] == len(files) == 8
    # The same model, transform and calibrated scoring the handler answers with, image by image.
    model, checkpoint = load_for_inference(out / "checkpoints" / "best.pt")
    batch = torch.from_numpy(
        np.stack([eval_transform(open_rgb(f), checkpoint_preprocessing(checkpoint)) for f in files])
    )
    with torch.inference_mode():
        probs = calibrated(model(batch).numpy(), report["temperature"])
    unknown = int((~known(probs, report["unknown_threshold"])).sum())
    assert report["ood_flagged"] == unknown / len(files)
    assert f"| {unknown} of 8 ({report['ood_flagged']:.3f}) |" in (out / "report.md").read_text()


def test_a_corrupt_file_and_a_stray_text_file_do_not_stop_training(synthetic_data, tmp_path):
    data = shutil.copytree(synthetic_data, tmp_path / "data")
    folder = data / "FromSoftwareImages" / "elden ring"
    first = sorted(folder.glob("*.jpg"))[0]
    (folder / "broken.jpg").write_bytes(first.read_bytes()[:1500])
    (folder / "readme.txt").write_text("frames from a video")
    run_dir = tmp_path / "run"
    out = run_cli("prepare", data, "--out", run_dir).stdout
    assert "skipped {'corrupt': 1, 'not_an_image': 1}" in out
    run_cli(
        "train",
        run_dir,
        "--arch",
        "tiny",
        "--epochs",
        "1",
        "--head-epochs",
        "0",
        "--max-steps",
        "3",
        "--workers",
        "0",
    )
    assert (run_dir / "checkpoints" / "best.pt").is_file()


def test_resume_continues_from_the_last_epoch(trained_run, tmp_path):
    run_dir = shutil.copytree(trained_run, tmp_path / "run")
    run_cli(
        "train",
        run_dir,
        "--arch",
        "tiny",
        "--epochs",
        "7",
        "--head-epochs",
        "0",
        "--lr",
        "0.003",
        "--workers",
        "0",
        "--max-steps",
        "3",
        "--resume",
    )
    history = json.loads((run_dir / "history.json").read_text())
    assert [h["epoch"] for h in history] == list(range(7))
    assert torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 6


def test_torchrun_two_cpu_processes_train_with_gloo_and_rank0_writes_one_checkpoint(trained_run, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for name in ("manifest.csv", "class_weights.json"):
        shutil.copy(trained_run / name, run_dir / name)
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={free_port()}",
    ]
    proc = subprocess.run(
        [
            *torchrun,
            "-m",
            "training",
            "train",
            str(run_dir),
            "--arch",
            "tiny",
            "--epochs",
            "1",
            "--head-epochs",
            "0",
            "--max-steps",
            "3",
            "--workers",
            "0",
            "--threads",
            "1",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best.pt", "last.pt"]
    assert proc.stdout.count("train: epoch 1:") == 1  # only rank 0 reports and writes


def test_the_archive_says_its_model_learned_from_synthetic_frames(model_store, trained_run):
    """The page warns that a model of synthetic frames will not know real screenshots: it reads
    ``data_kind`` from this provenance."""
    prepared = json.loads((trained_run / "prepare_report.json").read_text())
    with zipfile.ZipFile(model_store / "fromsoft.mar") as archive:
        provenance = json.loads(archive.read("model_meta.json"))["provenance"]
    assert provenance["data_kind"] == "synthetic"
    assert provenance["synthetic_images"] == provenance["images"] == prepared["images"]
    assert provenance["data_root"] == "synthetic frames (the embedded default)"


def test_the_archive_carries_the_runs_model_card_measured_not_claimed(model_store, trained_run):
    report = json.loads((trained_run / "report.json").read_text())
    with zipfile.ZipFile(model_store / "fromsoft.mar") as archive:
        card = json.loads(archive.read("model_card.json"))
        text = archive.read("MODEL_CARD.md").decode()
    assert (card["name"], card["version"], card["data"]["kind"]) == ("fromsoft", "1.0", "synthetic")
    assert card["test"]["macro_f1"] == report["macro_f1"]
    assert card["test"]["per_class"]["sekiro"]["f1"] == report["per_class"]["sekiro"]["f1-score"]
    assert card["unknown"]["threshold"] == report["unknown_threshold"]
    assert card["calibration"]["ece_after"] == report["ece_after"]
    assert card["external"] is None
    assert any("synthetic frames only" in item for item in card["limitations"])
    assert text.startswith("# Model card: fromsoft 1.0")
    assert "| Sekiro: Shadows Die Twice |" in text


def test_the_archive_carries_the_core_and_the_handler_whole(model_store):
    """No hand-made list: a new module of either package travels without anyone remembering it."""
    with zipfile.ZipFile(model_store / "fromsoft.mar") as archive:
        shipped = {name for name in archive.namelist() if name.endswith(".py")}
    for package in ("inference", "handler"):
        modules = {f"{package}/{p.name}" for p in (REPO / package).glob("*.py")}
        assert modules <= shipped, sorted(modules - shipped)
    assert not any(name.startswith("training/") for name in shipped)
    assert "fromsoft_handler.py" in shipped  # the entry point, at the archive's root
