"""``python -m training evaluate RUN --external DIR`` through the real command line: its own section of
the report, on a generated folder and on the real screenshots, with the test-split figures untouched."""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from inference.labels import LABELS, canonical_label
from tests.conftest import REPO, run_cli

# The screenshots' folder style (``dark_souls_2``) and other spellings the alias table accepts.
RENAMED = {
    "bloodborne": "Bloodborne",
    "dark souls": "dark_souls",
    "dark souls 2": "dark_souls_2",
    "dark souls 3": "Dark Souls III",
    "demons souls": "Demon's Souls",
    "elden ring": "elden_ring",
    "sekiro": "sekiro",
}


def _external_set(tmp_path: Path, trained_run: Path) -> Path:
    """Fresh synthetic frames (another seed) in renamed folders, a stray text file and one copy of a
    training image, which must be left out."""
    generated = tmp_path / "generated"
    run_cli("synthesize", generated, "--images", "70", "--seed", "99")
    root = tmp_path / "external"
    root.mkdir()
    for kaggle, name in RENAMED.items():
        shutil.move(generated / "FromSoftwareImages" / kaggle, root / name)
    (root / "sekiro" / "notes.txt").write_text("where these came from")
    with (trained_run / "manifest.csv").open(newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["split"] == "train" and r["label"] == "sekiro")
    shutil.copy(row["path"], root / "sekiro" / "copied_from_training.jpg")
    return root


def test_external_set_gets_its_own_section_and_leaves_the_test_figures_alone(trained_run, tmp_path):
    run = shutil.copytree(trained_run, tmp_path / "run")
    before = json.loads((run / "report.json").read_text())
    kept = {
        n: (run / n).read_bytes() for n in ("calibration.json", "confusion_matrix.png", "reliability.png")
    }
    root = _external_set(tmp_path, trained_run)

    out = run_cli("evaluate", run, "--external", root).stdout
    assert "test-split figures kept from report.json" in out

    report = json.loads((run / "report.json").read_text())
    section = report.pop("external")
    assert report == before
    assert {n: (run / n).read_bytes() for n in kept} == kept
    assert section["images"] == 70
    assert section["copies_of_run_images"] == 1
    assert section["skipped"] == {"not_an_image": 1}
    supports = {label: section["per_class"][label]["support"] for label in LABELS}
    assert supports == {
        canonical_label(folder.name): sum(1 for p in folder.glob("*.jpg") if p.name[0].isdigit())
        for folder in root.iterdir()
    }
    matrix = np.array(section["confusion_matrix"])
    assert matrix.sum() == 70
    assert section["accuracy"] == np.trace(matrix) / 70
    # The generator the model learned from, another seed: far above chance (1/7) if labels map right.
    assert section["accuracy"] >= 0.6, section["accuracy"]
    assert 0.0 <= section["not_recognised_rate"] <= 1.0
    assert section["unknown_threshold"] == before["unknown_threshold"]

    text = (run / "report.md").read_text()
    assert text.index("| macro F1 |") < text.index("## External set: external (70 images the run never saw)")
    assert (run / "external_confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_unknown_class_folder_is_refused_before_any_model_runs(trained_run, tmp_path):
    root = tmp_path / "external"
    (root / "elden_ring").mkdir(parents=True)
    (root / "armored core").mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "training", "evaluate", str(trained_run), "--external", str(root)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "armored core" in proc.stdout


def test_external_runs_on_the_real_screenshots(trained_run, screenshots, tmp_path):
    """Pins that the command handles the real files (JPEG and PNG up to 4K), not what the model scores."""
    run = shutil.copytree(trained_run, tmp_path / "run")
    run_cli("evaluate", run, "--external", screenshots)
    section = json.loads((run / "report.json").read_text())["external"]
    files = sum(1 for folder in screenshots.iterdir() if folder.is_dir() for p in folder.iterdir())
    assert section["images"] + section["copies_of_run_images"] + sum(section["skipped"].values()) == files
    assert section["images"] > 0
    assert section["classes"] == [label for label in LABELS if section["per_class"][label]["support"]]
    assert "## External set: screenshots" in (run / "report.md").read_text()
    borders = section["borders"]
    assert borders["cut"] <= 2  # the real set has next to no bars of its own (inference.borders)
    screens = ("as sent", "on a 16:10 screen", "on a 21:9 screen")
    assert list(borders["figures"]) == [f"{screen}, {done}" for screen in screens for done in ("cut", "kept")]
    assert borders["figures"]["as sent, cut"]["accuracy"] == section["accuracy"]
    assert "| on a 21:9 screen | kept |" in (run / "report.md").read_text()
    run_cli("card", run, "--out", tmp_path / "card.md")  # the card carries the external set and its bars
    card = (tmp_path / "card.md").read_text()
    assert "## Screenshots from outside its data" in card
    assert "| on a 21:9 screen | cut |" in card
