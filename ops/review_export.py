"""The reviewed data set that ``python -m ops.feedback export OUT`` writes: the screenshots moderators
accepted or fixed, folder per class (``OUT/<label>/<sha256>.<ext>``, the labels of inference.labels, as
``python -m training prepare`` reads any data root) and ``OUT/manifest.csv``, one row per image:
sha256, label, reviewer, reviewed_at (ISO 8601, UTC), verdict_counts (the visitors' votes by verdict,
as JSON) and source. ``python -m training refresh RUN --reviewed OUT`` reads exactly this.

It is written into a temporary folder beside OUT and renamed into place, so that a reader never finds
half an export and an export that fails leaves OUT as it was. The folder is its owner's alone (0700):
it holds screenshots visitors shared with the stack, not with every user of the machine.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from tqdm import tqdm

from inference.formats import sniff_format
from store.review import Exportable

MANIFEST = "manifest.csv"
COLUMNS = ("sha256", "label", "reviewer", "reviewed_at", "verdict_counts", "source")
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}  # by the bytes, never the declared type


class ExportRefusedError(Exception):
    """OUT cannot take the export; the message says why."""


def check_target(out: Path, force: bool) -> None:
    """Refuse an OUT that holds anything, unless ``force`` (then the export replaces it whole)."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ExportRefusedError(f"{out} exists and is not a folder: give a folder to export into")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ExportRefusedError(f"{out} is not empty: give a new folder, or --force to replace it")


def write(rows: Iterable[Exportable], out: Path, total: int, force: bool = False) -> Counter[str]:
    """Write ``rows`` (``total`` of them, for the progress bar) as the data set OUT; the images by label."""
    check_target(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=out.parent))
    try:
        labels = _fill(staging, rows, total)
        _put_in_place(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already once renamed
    return labels


def _fill(folder: Path, rows: Iterable[Exportable], total: int) -> Counter[str]:
    labels: Counter[str] = Counter()
    with (folder / MANIFEST).open("w", newline="") as manifest:
        writer = csv.writer(manifest)
        writer.writerow(COLUMNS)
        for row in tqdm(rows, total=total, desc="export", unit="img"):
            image = folder / row.label / f"{row.sha256}.{_extension(row)}"
            image.parent.mkdir(exist_ok=True)
            image.write_bytes(row.data)
            counts = json.dumps(dict(sorted(row.verdict_counts.items())))
            writer.writerow(
                [row.sha256, row.label, row.reviewer, row.reviewed_at.isoformat(), counts, row.source]
            )
            labels[row.label] += 1
    return labels


def _extension(row: Exportable) -> str:
    found = sniff_format(row.data)
    if found is None:  # the gateway keeps only images it could open: the store was edited by hand
        raise ExportRefusedError(f"the screenshot of {row.sha256} in the store is not a JPEG, PNG or WebP")
    return EXTENSIONS[found]


def _put_in_place(staging: Path, out: Path) -> None:
    """``staging`` becomes OUT: one rename onto a missing or empty OUT; a replaced one is moved aside
    first (a rename does not replace a folder that holds files) and deleted after."""
    if out.is_dir() and any(out.iterdir()):
        aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.replaced-", dir=out.parent))
        os.replace(out, aside / out.name)
        os.replace(staging, out)
        shutil.rmtree(aside)
        return
    os.replace(staging, out)
