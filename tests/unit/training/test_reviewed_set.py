"""The reviewed export (``ops.feedback export``'s folder) is read only when every file and manifest row
agree, and its held-out part is stratified, seeded and keeps near-duplicates together
(training.reviewed_set)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.common.reviewed_export import write_export
from training.reviewed_set import ReviewedExportError, ReviewedImage, export_digest, hold_out, read_export


def _image(path: Path, seed: int) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 256, (36, 64, 3), dtype=np.uint8)
    Image.fromarray(np.kron(pixels, np.ones((4, 4, 1), np.uint8))).save(path)
    return path


@pytest.fixture
def export(tmp_path: Path) -> Path:
    sources = tmp_path / "sources"
    sources.mkdir()
    images = [
        (_image(sources / f"{i}.png", i), label) for i, label in enumerate(["sekiro", "sekiro", "elden_ring"])
    ]
    return write_export(tmp_path / "out", images)


def test_an_export_is_read_with_each_image_checked_against_its_row(export: Path):
    images = read_export(export)
    assert Counter(image.label for image in images) == {"sekiro": 2, "elden_ring": 1}
    for image in images:
        assert image.path == (export / image.label / f"{image.sha256}.png").resolve()
        assert image.reviewer == "test"


def _rewrite_manifest(export: Path, change) -> None:
    path = export / "manifest.csv"
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    rows = change(rows)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_an_export_whose_files_and_rows_disagree_is_refused_saying_how(export: Path, tmp_path: Path):
    first = read_export(export)[0]
    cases = {
        "not one of": lambda rows: [{**rows[0], "label": "halo"}, *rows[1:]],
        "lists an image twice": lambda rows: [*rows, rows[0]],
        "expected one file": lambda rows: [{**rows[0], "sha256": "0" * 64}, *rows[1:]],
        "does not list": lambda rows: rows[1:],
    }
    original = (export / "manifest.csv").read_text()
    for message, change in cases.items():
        _rewrite_manifest(export, change)
        with pytest.raises(ReviewedExportError, match=message):
            read_export(export)
        (export / "manifest.csv").write_text(original)
    _image(first.path, 99)  # the file changed after the review
    with pytest.raises(ReviewedExportError, match="its bytes hash to"):
        read_export(export)
    with pytest.raises(ReviewedExportError, match=r"manifest\.csv is missing"):
        read_export(tmp_path)


def _reviewed(label: str, index: int, phash: int) -> ReviewedImage:
    return ReviewedImage(
        Path(f"{label}/{index}.png"), f"{label}{index:04d}".ljust(64, "0"), label, phash, "", ""
    )


def test_the_held_out_part_is_stratified_seeded_and_keeps_near_duplicates_on_one_side():
    rng = np.random.default_rng(0)
    images = [_reviewed("bloodborne", i, int(rng.integers(0, 2**63))) for i in range(20)]
    images += [_reviewed("dark_souls", i, int(rng.integers(0, 2**63))) for i in range(10)]
    twin = images[0].phash ^ 0b101  # 2 bits away: a near-copy of the first Bloodborne screenshot
    images += [_reviewed("bloodborne", 99, twin), _reviewed("sekiro", 0, int(rng.integers(0, 2**63)))]
    training, held = hold_out(images, 0.3, seed=0)
    assert Counter(image.label for image in held) in (
        {"bloodborne": 6, "dark_souls": 3},
        {"bloodborne": 7, "dark_souls": 3},  # the twins count as one group of two
    )
    assert "sekiro" not in {image.label for image in held}  # its only screenshot is needed in training
    assert (images[0] in held) == (images[-2] in held)
    assert hold_out(images, 0.3, seed=0) == (training, held)
    assert hold_out(images, 0.3, seed=1)[1] != held
    assert export_digest(images) == export_digest(list(reversed(images)))
