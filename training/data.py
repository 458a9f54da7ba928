"""The manifest written by ``prepare`` as PyTorch datasets and loaders."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from inference.labels import LABELS

IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "BMP")


@dataclass(frozen=True)
class Row:
    path: Path
    label: str
    group: int
    split: str


def read_manifest(run_dir: Path) -> list[Row]:
    with (run_dir / "manifest.csv").open(newline="") as f:
        return [Row(Path(r["path"]), r["label"], int(r["group"]), r["split"]) for r in csv.DictReader(f)]


def open_rgb(path: Path) -> Image.Image:
    with Image.open(path, formats=IMAGE_FORMATS) as img:
        return img.convert("RGB")


class ManifestDataset(Dataset[tuple[torch.Tensor, int]]):
    def __init__(self, rows: list[Row], transform: Callable[[Image.Image], torch.Tensor]) -> None:
        self.rows = rows
        self.transform = transform

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        row = self.rows[index]
        return self.transform(open_rgb(row.path)), LABELS.index(row.label)


def make_loader(
    rows: list[Row],
    transform: Callable[[Image.Image], torch.Tensor],
    batch_size: int,
    workers: int,
    shuffle: bool,
    distributed: bool = False,
    seed: int = 0,
) -> DataLoader[tuple[torch.Tensor, int]]:
    dataset = ManifestDataset(rows, transform)
    sampler: DistributedSampler[tuple[torch.Tensor, int]] | None = (
        DistributedSampler(dataset, shuffle=shuffle, seed=seed) if distributed else None
    )
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=torch.cuda.is_available(),
        drop_last=False,
    )
