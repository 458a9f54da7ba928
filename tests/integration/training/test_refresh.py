"""``python -m training refresh`` on the tests' tiny run with a small reviewed export, through the real
command line: a held-out part kept out of training and calibration, a threshold fitted on real reviewed
images that ``evaluate`` keeps, the default measured as its archive answers, and an archive whose card
carries both models' figures for ``ops.models promote``."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import torch

from benchmarks.common.reviewed_export import feedback_files, write_export
from inference.archive_digest import digest_of_archive
from inference.labels import canonical_label
from inference.reviewed import ReviewedFigures
from tests.conftest import REPO, run_cli
from training import refresh
from training.reviewed_set import HOLDOUT_SPLIT, hold_out, read_export

SMALL = ("--views", "2", "--folds", "3", "--base-per-class", "30", "--batch-size", "16", "--workers", "0")


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six frames of each game from another seed than the run's data, spread over each game's clips (frames
    of one clip are near-duplicates, which the held-out part keeps on one side), as a reviewed export."""
    generated = tmp_path_factory.mktemp("generated")
    run_cli("synthesize", generated, "--images", "280", "--seed", "11")
    picked = []
    for folder in sorted((generated / "FromSoftwareImages").iterdir()):
        files = sorted(folder.glob("*.jpg"))
        picked += [(path, canonical_label(folder.name)) for path in files[:: max(1, len(files) // 6)][:6]]
    return write_export(tmp_path_factory.mktemp("reviewed"), picked)


@pytest.fixture(scope="module")
def refreshed(trained_run: Path, reviewed: Path, model_store: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("refreshed") / "run"
    archive = model_store / "fromsoft.mar"
    run_cli(
        "refresh", trained_run, "--reviewed", reviewed, "--out", out, "--default-archive", archive, *SMALL
    )
    return out


def _manifest(run: Path) -> list[dict[str, str]]:
    with (run / "manifest.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_a_stratified_seeded_part_of_the_reviewed_set_is_held_out_and_never_trained_on(refreshed, reviewed):
    record = json.loads((refreshed / "refresh.json").read_text())
    held, trained = set(record["reviewed"]["held_out"]), set(record["reviewed"]["trained_on"])
    expected = hold_out(read_export(reviewed), 0.25, seed=0)[1]
    assert held == {image.sha256 for image in expected}
    assert not held & trained
    assert len(held | trained) == record["reviewed"]["images"] == 42
    split_of = {row["sha256"]: row["split"] for row in _manifest(refreshed)}
    assert {split_of[sha] for sha in held} == {HOLDOUT_SPLIT}
    assert {split_of[sha] for sha in trained} == {"train"}
    assert {row["split"] for row in _manifest(refreshed)} == {"train", "val", "test", HOLDOUT_SPLIT}


def test_the_heads_read_the_stage_statistics_by_default(refreshed):
    """refresh's default embedding: the parent's stage-statistics variant (its archive: the card's test)."""
    checkpoint = torch.load(refreshed / "checkpoints" / "best.pt", map_location="cpu", weights_only=True)
    assert checkpoint["arch"] == "tiny_stages"


def test_the_threshold_is_fitted_on_reviewed_images_and_evaluate_keeps_it(refreshed, trained_run):
    calibration = json.loads((refreshed / "calibration.json").read_text())
    record = json.loads((refreshed / "refresh.json").read_text())
    assert calibration["source"] == "reviewed"
    assert calibration["images"] == len(record["reviewed"]["trained_on"])  # cross-fitted, each scored unseen
    assert "cross-fitted: 3 folds" in calibration["how"]
    before = (refreshed / "calibration.json").read_bytes()
    run_cli("evaluate", refreshed, "--workers", "0")
    assert (refreshed / "calibration.json").read_bytes() == before
    report = json.loads((refreshed / "report.json").read_text())
    assert report["unknown_threshold"] == calibration["unknown_threshold"]
    assert report["calibrated_on"] == f"{calibration['images']} reviewed real images"
    parent = json.loads((trained_run / "calibration.json").read_text())
    assert (calibration["temperature"], calibration["unknown_threshold"]) != (
        parent["temperature"],
        parent["unknown_threshold"],
    )


def test_the_default_is_measured_as_its_archive_answers(refreshed, model_store):
    record = json.loads((refreshed / "refresh.json").read_text())
    archive = model_store / "fromsoft.mar"
    assert record["default_model"] == {
        "name": "fromsoft",
        "version": "1.0",
        "digest": digest_of_archive(archive),
    }
    with zipfile.ZipFile(archive) as opened:
        meta = json.loads(opened.read("model_meta.json"))
    forms = meta["serving_forms"]
    # The same test split through the same shipped form: the figure export measured for that archive.
    assert record["default"]["test_macro_f1"] == pytest.approx(
        forms["forms"][forms["shipped"]]["test_macro_f1"], abs=0.005
    )
    assert record["default"]["answers"]["images"] == len(record["reviewed"]["held_out"])


def test_the_archive_card_carries_the_held_out_figures_beside_the_defaults(refreshed, tmp_path):
    store = tmp_path / "store"
    out = run_cli(
        "export", refreshed, "--model-store", store, "--version", "2.0", "--timing-runs", "2"
    ).stdout
    assert "reviewed held-out images, as" in out
    with zipfile.ZipFile(store / "fromsoft.mar") as opened:
        card = json.loads(opened.read("model_card.json"))
        text = opened.read("MODEL_CARD.md").decode()
        assert json.loads(opened.read("model_meta.json"))["arch"] == "tiny_stages"  # served as refreshed
    figures = ReviewedFigures.from_dict(card["reviewed"])
    record = json.loads((refreshed / "refresh.json").read_text())
    assert (
        figures.held_out
        == figures.candidate.images
        == figures.default.images
        == len(record["reviewed"]["held_out"])
    )
    assert figures.default_model.digest == record["default_model"]["digest"]
    served = json.loads((refreshed / "serving_forms.json").read_text())
    assert card["reviewed"]["candidate"] == served["reviewed_held_out"]
    assert "## Reviewed screenshots held out" in text
    assert f"| default 1.0 ({figures.default_model.digest}) | {figures.default.named_right} |" in text
    assert card["data"]["kind"] == "synthetic"  # the reviewed frames here are synthetic too


@pytest.mark.parametrize("method", ["cosine", "finetune"])
def test_the_other_methods_end_in_a_run_calibrated_on_reviewed_images(
    method, trained_run, reviewed, tmp_path
):
    out = tmp_path / method
    # Fine-tuning calibrates on a quarter of the training part, about 9 images here: few to bound the share
    # named wrong at 0.10 (at least 9 needed), enough at 0.2.
    extra = ("--finetune-steps", "4", "--max-wrong", "0.2") if method == "finetune" else ()
    run_cli("refresh", trained_run, "--reviewed", reviewed, "--out", out, "--method", method, *SMALL, *extra)
    calibration = json.loads((out / "calibration.json").read_text())
    splits = {row["split"] for row in _manifest(out)}
    if method == "finetune":  # a quarter of the training part calibrates, kept out of fine-tuning
        assert "kept out of fine-tuning" in calibration["how"]
        assert "reviewed_calibration" in splits
    else:
        assert "cross-fitted" in calibration["how"]
    assert json.loads((out / "refresh.json").read_text())["method"] == method


def test_refresh_refuses_what_it_cannot_do_well(trained_run, reviewed, tmp_path, capsys):
    def refused(*argv: str | Path) -> str:
        parser = refresh.argparse.ArgumentParser()
        refresh.add_arguments(parser)
        assert refresh.main(parser.parse_args([str(a) for a in argv])) == 2
        return capsys.readouterr().out

    assert "--out must be a new run directory" in refused(
        trained_run, "--reviewed", reviewed, "--out", trained_run
    )
    assert "is missing: is" in refused(trained_run, "--reviewed", tmp_path, "--out", tmp_path / "new")
    again = write_export(tmp_path / "again", [(Path(_train_row(trained_run)["path"]), "sekiro")])
    assert "already in the parent run's data" in refused(
        trained_run, "--reviewed", again, "--out", tmp_path / "n"
    )
    # Fine-tuning calibrates on a quarter of its training part (about 9 images here): too few to bound the
    # share named wrong at 0.05, which needs 19.
    too_few = refused(
        trained_run,
        "--reviewed",
        reviewed,
        "--out",
        tmp_path / "n",
        "--method",
        "finetune",
        "--max-wrong",
        "0.05",
    )
    assert "reviewed images to calibrate on (finetune)" in too_few
    assert "at most 0.05 of new screenshots named wrong needs 19; review more" in too_few
    unevaluated = shutil.copytree(trained_run, tmp_path / "unevaluated")
    (unevaluated / "calibration.json").unlink()
    assert "refresh an evaluated run" in refused(unevaluated, "--reviewed", reviewed, "--out", tmp_path / "n")


def _train_row(run: Path) -> dict[str, str]:
    return next(r for r in _manifest(run) if r["split"] == "train" and r["label"] == "sekiro")


def test_make_retrain_goes_from_an_export_to_a_canary(trained_run, reviewed, model_store, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    shutil.copy(model_store / "fromsoft.mar", store)
    env = {
        **os.environ,
        "MODEL_STORE": str(store),
        "REPLICA_STATUS_DIR": str(tmp_path / "status"),  # no replica running: each would load it at start
        "RUN": str(trained_run),
        "REVIEWED": str(reviewed),
        "VERSION": "2.0",
        "NEW_RUN": str(tmp_path / "new"),
        "REFRESH_ARGS": " ".join(SMALL),
    }
    subprocess.run(
        [".venv/bin/python", "-m", "ops.models", "add", "fromsoft.mar"], cwd=REPO, env=env, check=True
    )
    done = subprocess.run(
        ["bash", "scripts/retrain.sh"], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for step in ("[1/5] using the exported", "[2/5]", "[3/5]", "[4/5] exporting fromsoft 2.0", "[5/5]"):
        assert f"retrain: {step}" in done.stdout
    assert "## Reviewed screenshots held out" in done.stdout  # the end summary: the card's figures
    declared = (store / "models.yaml").read_text()
    assert "fromsoft-2.0.mar" in declared
    assert "canary" in declared


def test_refreshed_on_the_feedback_screenshots_the_run_is_judged_on_the_holdout_ones_only(
    trained_run, screenshots, tmp_path
):
    reviewed = write_export(tmp_path / "reviewed", feedback_files(screenshots))
    out = tmp_path / "real"
    run_cli("refresh", trained_run, "--reviewed", reviewed, "--out", out, *SMALL)
    assert json.loads((out / "prepare_report.json").read_text())["data_kind"] == "mixed"
    feedback, holdout = len(feedback_files(screenshots)), len(feedback_files(screenshots, "holdout"))
    run_cli("evaluate", out, "--external", screenshots, "--workers", "0")
    section = json.loads((out / "report.json").read_text())["external"]
    assert (section["images"], section["copies_of_run_images"]) == (holdout, feedback)  # its own left out
    listed = ("--external-list", screenshots / "feedback_split.tsv", "--external-use", "holdout")
    parent = shutil.copytree(trained_run, tmp_path / "parent")  # the session's run stays as it was
    run_cli("evaluate", parent, "--external", screenshots, *listed, "--workers", "0")
    section = json.loads((parent / "report.json").read_text())["external"]
    assert (section["images"], section["only"]) == (holdout, {"list": "feedback_split.tsv", "use": "holdout"})
