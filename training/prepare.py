"""Index a folder-per-class root into a seeded, stratified, group-aware 80/10/10 split.

Works unchanged on the real Kaggle root (``FromSoftwareImages/<game>/``), the synthetic one, or a user's
own folders. Unreadable files are skipped and counted; exact copies collapse; near-duplicates and
consecutive frames are grouped so that no group straddles two splits (a random split of video frames
leaks near-copies of test images into training and inflates every metric).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import warnings
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image, UnidentifiedImageError
from sklearn.model_selection import StratifiedGroupKFold
from tqdm import tqdm

from inference.labels import LABELS, canonical_label
from training.cli import save_args
from training.dedup import UnionFind, near_duplicate_pairs, sequence_pairs
from training.synthesize import SYNTHETIC_MARK

IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "BMP")
MAX_PIXELS = 50_000_000  # far above any screenshot (4K is 8.3 MP), far below a decompression bomb
SPLITS = ("train", "val", "test")


class PrepareError(ValueError):
    """A data root that cannot be indexed as asked (unknown class folders, no images at all)."""


@dataclass(frozen=True)
class Indexed:
    path: Path
    label: str
    sha256: str | None = None
    phash: int | None = None
    skipped: str | None = None  # reason, when the file is not a usable image
    synthetic: bool = False  # carries the mark of `training synthesize`


def class_folders(data_root: Path) -> dict[str, list[Path]]:
    """label -> folders under the root; the Kaggle ``FromSoftwareImages`` level is optional."""
    root = data_root / "FromSoftwareImages" if (data_root / "FromSoftwareImages").is_dir() else data_root
    if not root.is_dir():
        raise PrepareError(f"{data_root} is not a folder")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown = [p.name for p in folders if canonical_label(p.name) is None]
    if unknown:
        raise PrepareError(
            f"unknown class folders in {root}: {', '.join(repr(n) for n in unknown)}; "
            f"expected one folder per game ({', '.join(LABELS)} or the Kaggle names)"
        )
    mapping: dict[str, list[Path]] = {}
    for folder in folders:
        mapping.setdefault(canonical_label(folder.name) or "", []).append(folder)
    if not mapping:
        raise PrepareError(f"no class folders in {root}")
    return mapping


def index_file(path: Path, label: str) -> Indexed:
    """Hash and verify one file; decode errors become a skip reason, never an exception."""
    try:
        data = path.read_bytes()
    except OSError:
        return Indexed(path, label, skipped="unreadable")
    if not data:
        return Indexed(path, label, skipped="empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=IMAGE_FORMATS) as img:
                img.draft("L", (64, 64))  # JPEG: decode at 1/8 scale, enough for a 32x32 hash
                img.load()
                phash = int(str(imagehash.phash(img.convert("L"))), 16)
                synthetic = img.info.get("comment") == SYNTHETIC_MARK
    except UnidentifiedImageError:
        return Indexed(path, label, skipped="not_an_image")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return Indexed(path, label, skipped="too_many_pixels")
    except (OSError, SyntaxError, ValueError):
        return Indexed(path, label, skipped="corrupt")
    return Indexed(path, label, hashlib.sha256(data).hexdigest(), phash, synthetic=synthetic)


def _index_job(job: tuple[Path, str]) -> Indexed:
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    return index_file(*job)


def index_root(data_root: Path, workers: int) -> list[Indexed]:
    jobs = [
        (path, label)
        for label, folders in class_folders(data_root).items()
        for folder in folders
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    ]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(tqdm(pool.map(_index_job, jobs, chunksize=32), total=len(jobs), desc="index", unit="img"))


def split_groups(labels: list[str], groups: list[int], seed: int) -> list[str]:
    """80/10/10 by class, whole groups only: fold 0 of 10 is test, fold 1 val, the rest train."""
    folds = StratifiedGroupKFold(n_splits=10, shuffle=True, random_state=seed)
    assignment = ["train"] * len(labels)
    x = np.zeros(len(labels))
    for fold, (_, held_out) in enumerate(folds.split(x, labels, groups)):
        if fold > 1:
            break
        for i in held_out:
            assignment[i] = "test" if fold == 0 else "val"
    return assignment


def class_weights(labels: list[str], splits: list[str]) -> list[float]:
    """Inverse frequency on the train split, normalised so a balanced set gets 1.0; absent classes 0."""
    counts = Counter(label for label, split in zip(labels, splits, strict=True) if split == "train")
    present = [label for label in LABELS if counts[label]]
    total = sum(counts.values())
    return [total / (len(present) * counts[label]) if counts[label] else 0.0 for label in LABELS]


def data_kind(synthetic_images: int, images: int) -> str:
    """``synthetic`` when every image carries the generator's mark, ``real`` when none does, else ``mixed``.

    Read from the images themselves, not from a folder name, so that the page's "trained on synthetic
    frames" notice (a model of synthetic frames does not know real screenshots) follows what the model
    actually saw.
    """
    if synthetic_images == images:
        return "synthetic"
    return "real" if synthetic_images == 0 else "mixed"


def leaked_pairs(pairs: set[tuple[int, int]], count: int, seed: int) -> int:
    """How many near-duplicate pairs a plain random 80/10/10 split would put in different splits."""
    rng = random.Random(seed)
    order = list(range(count))
    rng.shuffle(order)
    split_of = [""] * count
    for rank, i in enumerate(order):
        split_of[i] = "train" if rank < 0.8 * count else "val" if rank < 0.9 * count else "test"
    return sum(split_of[a] != split_of[b] for a, b in pairs)


def prepare(
    data_root: Path, out: Path, seed: int, phash_distance: int, sequence_distance: int, workers: int
) -> dict[str, object]:
    indexed = index_root(data_root, workers)
    skipped = Counter(item.skipped for item in indexed if item.skipped)
    usable = [item for item in indexed if not item.skipped]
    if not usable:
        raise PrepareError(f"no readable images under {data_root}")

    # Exact copies: keep one per hash; the same bytes under two labels is ambiguous, so drop them all.
    by_sha: dict[str, list[Indexed]] = {}
    for item in usable:
        by_sha.setdefault(item.sha256 or "", []).append(item)
    kept, conflicting = [], 0
    for copies in by_sha.values():
        if len({c.label for c in copies}) > 1:
            conflicting += len(copies)
            continue
        kept.append(copies[0])
    exact_collapsed = len(usable) - len(kept) - conflicting

    labels = [item.label for item in kept]
    hashes = [item.phash or 0 for item in kept]
    paths = [item.path for item in kept]
    near = {(a, b) for a, b in near_duplicate_pairs(hashes, phash_distance) if labels[a] == labels[b]}
    frames = set(sequence_pairs(paths, hashes, sequence_distance))
    union = UnionFind(len(kept))
    for a, b in near | frames:
        union.union(a, b)
    groups = union.groups()
    splits = split_groups(labels, groups, seed)

    out.mkdir(parents=True, exist_ok=True)
    with (out / "manifest.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "group", "split", "sha256"])
        for item, group, split in zip(kept, groups, splits, strict=True):
            writer.writerow([str(item.path.resolve()), item.label, group, split, item.sha256])
    weights = class_weights(labels, splits)
    (out / "class_weights.json").write_text(
        json.dumps({"labels": list(LABELS), "weights": weights}, indent=2)
    )

    counts = {s: Counter(lb for lb, sp in zip(labels, splits, strict=True) if sp == s) for s in SPLITS}
    synthetic = sum(item.synthetic for item in kept)
    report: dict[str, object] = {
        "data_root": str(data_root.resolve()),
        "files_seen": len(indexed),
        "images": len(kept),
        "synthetic_images": synthetic,
        "data_kind": data_kind(synthetic, len(kept)),
        "skipped": dict(skipped),
        "exact_duplicates_collapsed": exact_collapsed,
        "conflicting_duplicates_dropped": conflicting,
        "near_duplicate_pairs": len(near),
        "consecutive_frame_pairs": len(frames),
        "groups": len(set(groups)),
        "largest_group": max(Counter(groups).values()),
        "random_split_leaked_pairs": leaked_pairs(near | frames, len(kept), seed),
        "group_split_leaked_pairs": sum(splits[a] != splits[b] for a, b in near | frames),
        "counts": {s: {label: counts[s][label] for label in LABELS} for s in SPLITS},
        "class_weights": dict(zip(LABELS, weights, strict=True)),
        "missing_classes": [label for label in LABELS if not counts["train"][label]],
    }
    (out / "prepare_report.json").write_text(json.dumps(report, indent=2))
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data_root", type=Path, help="folder-per-class root (Kaggle, synthetic or your own)")
    parser.add_argument("--out", type=Path, required=True, help="run directory to write the manifest into")
    parser.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    parser.add_argument(
        "--phash-distance",
        type=int,
        default=6,
        help="max Hamming distance of 64-bit perceptual hashes for near-duplicates (default 6)",
    )
    parser.add_argument(
        "--sequence-distance",
        type=int,
        default=20,
        help="max hash distance for consecutive frame numbers to count as one shot (default 20)",
    )
    parser.add_argument("--workers", type=int, default=2, help="hashing processes (default 2)")


def main(args: argparse.Namespace) -> int:
    try:
        report = prepare(
            args.data_root, args.out, args.seed, args.phash_distance, args.sequence_distance, args.workers
        )
    except PrepareError as exc:
        print(f"prepare: error: {exc}")
        return 2
    save_args(args, args.out / "prepare_args.yaml")
    counts = report["counts"]
    assert isinstance(counts, dict)
    print(
        f"prepare: {report['images']} images in {report['groups']} groups "
        f"(train {sum(counts['train'].values())}, val {sum(counts['val'].values())}, "
        f"test {sum(counts['test'].values())}; {report['data_kind']} data); "
        f"skipped {report['skipped'] or 'none'}; "
        f"exact duplicates collapsed {report['exact_duplicates_collapsed']}; a random split would have "
        f"leaked {report['random_split_leaked_pairs']} near-duplicate pairs across splits, this one "
        f"{report['group_split_leaked_pairs']}"
    )
    if report["missing_classes"]:
        print(f"prepare: warning: no training images for {', '.join(report['missing_classes'])}")  # type: ignore[arg-type]
    print(f"prepare: manifest -> {args.out / 'manifest.csv'}")
    return 0
