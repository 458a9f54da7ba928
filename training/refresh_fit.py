"""How ``training refresh`` teaches a run's model the reviewed screenshots, by one of three methods, and
which real images it then holds for calibration (images the model that scores them never trained on).

The base data's frames (the run's own train split, thousands of them, synthetic for the demo) must not
drown a few dozen real screenshots: the reviewed images together carry ``real_share`` of the training
weight (0.5: as much as every base frame together), each reviewed image alike, while the base frames are
class-balanced (prepare's class weights) within the rest. The heads get this as sample weights; fine-tuning
as the sampling probabilities of a sampler that draws with replacement (oversampling).

- ``logreg`` / ``cosine`` (training.heads): the backbone runs once per image; each reviewed image is also
  seen in ``views - 1`` random crops (train_preset), so the head learns more than one framing of it.
  Calibration comes from cross-fitting: the reviewed images are split into folds (near-duplicates kept
  together), each fold scored by a head fitted without it, so every reviewed training image is scored
  once by a model that never saw it, and the shipped head still learns from all of them.
- ``finetune``: train.py's staged unfreezing (the head, then the upper stages at a tenth of the learning
  rate) from the run's checkpoint. Cross-fitting would cost a fine-tuning per fold, so a stratified
  quarter of the reviewed images is kept out of training to calibrate on.
"""

from __future__ import annotations

import argparse
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, WeightedRandomSampler

from inference.labels import LABELS
from inference.preprocessing import Preprocessing
from training.backbones import ModelSpec
from training.data import ManifestDataset, Row, make_loader
from training.heads import HEADS, Head, embed, fit_head, write_head
from training.presets import eval_preset, train_preset
from training.reviewed_set import ReviewedImage, hold_out, near_groups
from training.train import Session, Trainer, predict, set_stage, staged_optimizer, train_one_epoch

METHODS = (*HEADS, "finetune")
CALIBRATION_SHARE = 0.25  # of the reviewed training part, kept out of fine-tuning to calibrate on


@dataclass
class Fitted:
    model: nn.Module
    trained: list[ReviewedImage]  # reviewed images the model learned from
    calibration: list[ReviewedImage]  # reviewed images its calibration logits are of
    calibration_logits: np.ndarray  # each scored by a model that never trained on it
    calibration_how: str


def base_rows(rows: list[Row], per_class: int, seed: int) -> list[Row]:
    """The run's train split, or ``per_class`` frames of each game from it (0: all), chosen by a seeded
    shuffle: the heads need far fewer frames than fine-tuning did, and each costs a backbone pass."""
    train = [r for r in rows if r.split == "train"]
    if not per_class:
        return train
    by_label: dict[str, list[Row]] = defaultdict(list)
    for row in train:
        by_label[row.label].append(row)
    rng = random.Random(seed)
    return [
        row
        for label in sorted(by_label)
        for row in rng.sample(by_label[label], min(per_class, len(by_label[label])))
    ]


def training_weights(
    base_labels: np.ndarray, class_weights: list[float], real_images: int, real_share: float
) -> tuple[np.ndarray, float]:
    """(each base frame's weight, each reviewed image's weight): the reviewed images together
    ``real_share`` of the total, each alike; the base frames class-balanced within the rest."""
    base = np.asarray(class_weights, np.float64)[base_labels]
    base *= (1.0 - real_share) / base.sum()
    return base, real_share / max(real_images, 1)


def _labels(images: list[ReviewedImage]) -> np.ndarray:
    return np.array([LABELS.index(image.label) for image in images])


def _rows(images: list[ReviewedImage]) -> list[Row]:
    return [image.row("train", -1) for image in images]


def folds_of(images: list[ReviewedImage], folds: int, seed: int) -> np.ndarray:
    """A fold per image: each game's near-duplicate groups dealt round the folds after a seeded shuffle,
    so folds are stratified and a near-copy never scores its twin."""
    groups = near_groups(images, 6)
    members: dict[tuple[str, int], list[int]] = defaultdict(list)
    for index in sorted(range(len(images)), key=lambda i: images[i].sha256):
        members[(images[index].label, groups[index])].append(index)
    rng = random.Random(seed)
    keys = sorted(members)
    rng.shuffle(keys)
    keys.sort(key=lambda key: key[0])  # stable: shuffled within each game
    assignment = np.zeros(len(images), int)
    for turn, key in enumerate(keys):
        assignment[members[key]] = turn % folds
    return assignment


@dataclass(frozen=True)
class Embeddings:
    """What the heads learn from: the base frames' embeddings and the reviewed images', each image's eval
    view first and then its random views, view by view (``view_x[k * n + i]`` is a view of image i)."""

    base_x: np.ndarray
    base_y: np.ndarray
    view_x: np.ndarray
    real_y: np.ndarray

    @property
    def views(self) -> int:
        return len(self.view_x) // len(self.real_y)

    def eval_view(self) -> np.ndarray:
        return self.view_x[: len(self.real_y)]


def embedded(
    args: Any, model: nn.Module, arch: str, pre: Preprocessing, base: list[Row], real: list[ReviewedImage]
) -> Embeddings:
    """The backbone run once over the base frames and the reviewed images, and ``args.views - 1`` times
    more over random crops of each reviewed image (seeded)."""

    def loader(rows: list[Row], train: bool) -> DataLoader:
        transform = train_preset(pre) if train else eval_preset(pre)
        return make_loader(rows, transform, args.batch_size, args.workers, shuffle=False)

    base_x, base_y = embed(model, arch, loader(base, False), "embed base frames")
    real_x, real_y = embed(model, arch, loader(_rows(real), False), "embed reviewed")
    torch.manual_seed(args.seed)  # the random views are the same for the same seed
    views = [real_x]
    if args.views > 1:
        views.append(embed(model, arch, loader(_rows(real) * (args.views - 1), True), "embed views")[0])
    return Embeddings(base_x, base_y, np.concatenate(views), real_y)


def head_fitter(
    found: Embeddings, class_weights: list[float], method: str, c: float, real_share: float, seed: int
) -> Callable[[np.ndarray], Head]:
    """A function from which reviewed images to learn (a boolean mask) to the head fitted on them and
    every base frame, weighted as the module says (each reviewed image's views share its weight)."""
    owner = np.tile(np.arange(len(found.real_y)), found.views)

    def fit(trained: np.ndarray) -> Head:
        keep = trained[owner]
        base_w, real_w = training_weights(found.base_y, class_weights, int(trained.sum()), real_share)
        x = np.concatenate([found.base_x, found.view_x[keep]])
        y = np.concatenate([found.base_y, found.real_y[owner[keep]]])
        w = np.concatenate([base_w, np.full(int(keep.sum()), real_w / found.views)])
        return fit_head(method, x, y, w, c, seed)

    return fit


def cross_fitted(
    fit: Callable[[np.ndarray], Head], found: Embeddings, real: list[ReviewedImage], folds: int, seed: int
) -> np.ndarray:
    """Logits of each reviewed image by the head fitted without its fold (folds_of)."""
    assignment = folds_of(real, folds, seed)
    oof = np.zeros((len(real), len(LABELS)), np.float32)
    for fold in range(folds):
        held = assignment == fold
        oof[held] = fit(~held).logits(found.eval_view()[held])
    return oof


def fit_heads(
    args: argparse.Namespace,
    model: nn.Module,
    arch: str,
    pre: Preprocessing,
    base: list[Row],
    real: list[ReviewedImage],
    class_weights: list[float],
) -> Fitted:
    found = embedded(args, model, arch, pre, base, real)
    fit = head_fitter(found, class_weights, args.method, args.c, args.real_share, args.seed)
    folds = min(args.folds, len(real))
    oof = cross_fitted(fit, found, real, folds, args.seed)
    write_head(model, arch, fit(np.ones(len(real), bool)))
    how = (
        f"cross-fitted: {folds} folds of the {len(real)} reviewed training images, each scored by a head "
        "fitted without it"
    )
    return Fitted(model, real, real, oof, how)


def _trainer(args: argparse.Namespace, spec: ModelSpec, model: nn.Module, steps: int) -> Trainer:
    """train.py's optimizer and schedule (the upper stages at a tenth of ``--lr``); plain cross-entropy,
    since the sampler already weighs the images."""
    total = args.finetune_epochs * steps
    optimizer, scheduler = staged_optimizer(spec, model, args.lr, 0.1, 0.05, max(1, steps // 10), total)
    return Trainer(
        model, optimizer, scheduler, nn.CrossEntropyLoss(), torch.amp.GradScaler("cuda", enabled=False)
    )


def fit_finetune(
    args: argparse.Namespace,
    model: nn.Module,
    spec: ModelSpec,
    base: list[Row],
    real: list[ReviewedImage],
    class_weights: list[float],
) -> Fitted:
    trained, calibration = parts(args.method, real, args.seed)
    base_labels = np.array([LABELS.index(r.label) for r in base])
    base_w, real_w = training_weights(base_labels, class_weights, len(trained), args.real_share)
    weights = np.concatenate([base_w, np.full(len(trained), real_w)]).tolist()
    steps = args.finetune_steps
    generator = torch.Generator().manual_seed(args.seed)
    sampler = WeightedRandomSampler(weights, steps * args.batch_size, replacement=True, generator=generator)
    dataset = ManifestDataset(base + _rows(trained), train_preset(spec.preprocessing))
    loader = DataLoader(dataset, batch_size=args.batch_size, sampler=sampler, num_workers=args.workers)
    session = Session(0, 1, 0, torch.device("cpu"), channels_last=False, amp=False)
    trainer = _trainer(args, spec, model, steps)
    for epoch in range(args.finetune_epochs):
        set_stage(model, spec.head if epoch < args.finetune_head_epochs else spec.head + spec.upper)
        train_one_epoch(
            trainer, model, loader, steps, session, f"fine-tune {epoch + 1}/{args.finetune_epochs}"
        )
    calibration_loader = make_loader(
        _rows(calibration), eval_preset(spec.preprocessing), args.batch_size, 0, False
    )
    logits, _ = predict(model, calibration_loader, torch.device("cpu"))
    how = (
        f"a stratified {CALIBRATION_SHARE:.0%} of the reviewed training images ({len(calibration)}), kept "
        "out of fine-tuning"
    )
    return Fitted(model.eval(), trained, calibration, logits.numpy(), how)


def parts(
    method: str, real: list[ReviewedImage], seed: int
) -> tuple[list[ReviewedImage], list[ReviewedImage]]:
    """(the reviewed images ``method`` learns, those its calibration scores): the heads learn and,
    cross-fitted, score every one; fine-tuning keeps a stratified ``CALIBRATION_SHARE`` out to score."""
    if method == "finetune":
        return hold_out(real, CALIBRATION_SHARE, seed + 1)
    return real, real


def fit(
    args: argparse.Namespace,
    model: nn.Module,
    spec: ModelSpec,
    base: list[Row],
    real: list[ReviewedImage],
    class_weights: list[float],
) -> Fitted:
    if args.method == "finetune":
        return fit_finetune(args, model, spec, base, real, class_weights)
    return fit_heads(args, model, spec.architecture.name, spec.preprocessing, base, real, class_weights)


def calibration_labels(fitted: Fitted) -> np.ndarray:
    return _labels(fitted.calibration)
