"""The reviewed data set that ``python -m ops.feedback export OUT`` writes, read and checked, and its
held-out part chosen.

The export is folder-per-class, ``OUT/<label>/<sha256>.<ext>``, with ``OUT/manifest.csv`` (columns
sha256, label, reviewer, reviewed_at, verdict_counts, source; extra columns are ignored). Every manifest
row must name one image whose bytes hash to its sha256 in its label's folder, and every image must have
a row: a moderator's decision and the file must not drift apart silently.

The held-out part is stratified by game, seeded, and keeps near-duplicates (perceptual hash within
``prepare``'s distance) on one side: a near-copy of a held-out screenshot in training would flatter every
figure measured on it.
"""

from __future__ import annotations

import csv
import hashlib
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from inference.labels import LABELS
from training.data import Row
from training.dedup import UnionFind, near_duplicate_pairs
from training.prepare import index_file

MANIFEST = "manifest.csv"
REQUIRED_COLUMNS = ("sha256", "label")
HOLDOUT_SPLIT = "reviewed_holdout"  # the split name the held-out part has in a refreshed run's manifest


class ReviewedExportError(ValueError):
    """The folder is not a consistent reviewed export; the message says what is wrong."""


@dataclass(frozen=True)
class ReviewedImage:
    path: Path
    sha256: str
    label: str
    phash: int
    reviewer: str
    reviewed_at: str
    synthetic: bool = False  # carries `training synthesize`'s mark (tests' exports; never a visitor's upload)

    def row(self, split: str, group: int) -> Row:
        return Row(self.path, self.label, group, split)


def _manifest_rows(root: Path) -> list[dict[str, str]]:
    path = root / MANIFEST
    if not path.is_file():
        raise ReviewedExportError(f"{path} is missing: is {root} an `ops.feedback export` folder?")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ReviewedExportError(f"{path} lacks the column(s) {', '.join(missing)}")
        return list(reader)


def _image_of(root: Path, entry: dict[str, str]) -> ReviewedImage:
    sha, label = entry["sha256"].strip().lower(), entry["label"].strip()
    if label not in LABELS:
        raise ReviewedExportError(f"{sha[:12]}: label {label!r} is not one of {', '.join(LABELS)}")
    found = sorted((root / label).glob(f"{sha}.*"))
    if len(found) != 1:
        raise ReviewedExportError(f"{sha[:12]}: expected one file {label}/{sha}.<ext>, found {len(found)}")
    indexed = index_file(found[0], label)
    if indexed.skipped:
        raise ReviewedExportError(f"{label}/{found[0].name}: not a usable image ({indexed.skipped})")
    if indexed.sha256 != sha:
        raise ReviewedExportError(f"{label}/{found[0].name}: its bytes hash to {indexed.sha256}")
    return ReviewedImage(
        found[0].resolve(),
        sha,
        label,
        indexed.phash or 0,
        entry.get("reviewer", ""),
        entry.get("reviewed_at", ""),
        indexed.synthetic,
    )


def read_export(root: Path) -> list[ReviewedImage]:
    """Every image of the export, checked against its manifest; raises ReviewedExportError."""
    entries = _manifest_rows(root)
    images = [_image_of(root, entry) for entry in entries]
    if len({image.sha256 for image in images}) != len(images):
        raise ReviewedExportError(f"{root / MANIFEST} lists an image twice")
    listed = {image.path for image in images}
    unlisted = sorted(
        p.relative_to(root).as_posix()
        for p in root.glob("*/*")
        if p.is_file() and not p.name.startswith(".") and p.resolve() not in listed
    )
    if unlisted:
        raise ReviewedExportError(f"files in {root} that {MANIFEST} does not list: {', '.join(unlisted[:5])}")
    if not images:
        raise ReviewedExportError(f"{root} holds no reviewed images")
    return images


def near_groups(images: list[ReviewedImage], max_distance: int) -> list[int]:
    """A group per image: near-duplicates (perceptual hash within ``max_distance``) share one."""
    union = UnionFind(len(images))
    for a, b in near_duplicate_pairs([image.phash for image in images], max_distance):
        union.union(a, b)
    return union.groups()


def hold_out(
    images: list[ReviewedImage], share: float, seed: int, max_distance: int = 6
) -> tuple[list[ReviewedImage], list[ReviewedImage]]:
    """(training part, held-out part): about ``share`` of each game's images held out, whole groups of
    near-duplicates at a time, chosen by a seeded shuffle of the images in hash order (the same export
    and seed give the same split). A game with one group stays wholly in training: holding its only
    screenshot out would teach the model nothing of it."""
    groups = near_groups(images, max_distance)
    by_label: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for index in sorted(range(len(images)), key=lambda i: images[i].sha256):
        by_label[images[index].label][groups[index]].append(index)
    rng = random.Random(seed)
    held: set[int] = set()
    for label in sorted(by_label):
        members = list(by_label[label].values())
        if len(members) < 2:
            continue
        rng.shuffle(members)
        target = max(1, round(share * sum(len(m) for m in members)))
        taken = 0
        for group in members[:-1]:  # one group at least stays in training
            if taken >= target:
                break
            held.update(group)
            taken += len(group)
    training = [image for i, image in enumerate(images) if i not in held]
    return training, [image for i, image in enumerate(images) if i in held]


def export_digest(images: list[ReviewedImage]) -> str:
    """What the export held, in 12 hex digits: its images' hashes and labels, in any order."""
    described = "\n".join(sorted(f"{image.sha256} {image.label}" for image in images))
    return hashlib.sha256(described.encode()).hexdigest()[:12]
