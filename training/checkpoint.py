"""Checkpoints: everything needed to resume a run or to serve its model, loadable with
``weights_only=True`` (plain tensors and primitives only, no pickled objects)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from inference.games_table import GamesTableError
from inference.labels import GAMES_FILE, LABELS
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
    """The checkpoint's model in eval mode (no pretrained download: the weights come from the file).
    Refused when the games table names other games than the run was trained on: what evaluate, export
    and refresh write would pair its outputs with the wrong names."""
    checkpoint = load_checkpoint(path)
    check_games(list(checkpoint["class_names"]), path)
    model = build_model(checkpoint["arch"], len(checkpoint["class_names"]), weights="none")
    model.load_state_dict(checkpoint["model"])
    return model.eval(), checkpoint


def check_games(trained: list[str], path: Path) -> None:
    if trained != list(LABELS):
        raise GamesTableError(
            f"{path} was trained on {len(trained)} games ({', '.join(trained)}) but the games table "
            f"({GAMES_FILE}) names {len(LABELS)} ({', '.join(LABELS)}): set FSL_GAMES_FILE to the table "
            "the run was trained with, or train a new run with this one (docs/development.md, Adding a game)"
        )


def checkpoint_preprocessing(checkpoint: dict[str, Any]) -> Preprocessing:
    return Preprocessing.from_dict(checkpoint["preprocessing"])
