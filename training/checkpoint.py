"""Checkpoints: everything needed to resume a run or to serve its model, loadable with
``weights_only=True`` (plain tensors and primitives only, no pickled objects)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from inference.preprocessing import Preprocessing
from training.backbones import build_model


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write atomically, so an interrupted run never leaves a half-written ``last.pt``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


def load_for_inference(path: Path) -> tuple[nn.Module, dict[str, Any]]:
    """The checkpoint's model in eval mode (no pretrained download: the weights come from the file)."""
    checkpoint = load_checkpoint(path)
    model = build_model(checkpoint["arch"], len(checkpoint["class_names"]), weights="none")
    model.load_state_dict(checkpoint["model"])
    return model.eval(), checkpoint


def checkpoint_preprocessing(checkpoint: dict[str, Any]) -> Preprocessing:
    return Preprocessing.from_dict(checkpoint["preprocessing"])
