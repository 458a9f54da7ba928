"""``python -m training refresh``'s options, grouped by what they steer (training.refresh runs them)."""

from __future__ import annotations

import argparse
from pathlib import Path

from training.refresh_fit import METHODS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _what_and_how(parser)
    _heads(parser)
    _finetune(parser)
    _running(parser)


def _what_and_how(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dir", type=Path, help="the evaluated run to retrain (its split, backbone, preprocessing)"
    )
    parser.add_argument(
        "--reviewed", type=Path, required=True, help="folder written by `python -m ops.feedback export`"
    )
    parser.add_argument("--out", type=Path, required=True, help="the new run directory")
    parser.add_argument(
        "--method", default="logreg", choices=METHODS, help="how it learns them (default logreg)"
    )
    parser.add_argument(
        "--default-archive",
        type=Path,
        help="the archive served by default now, measured as it answers (default: the parent run)",
    )
    parser.add_argument(
        "--holdout-share",
        type=float,
        default=0.25,
        help="of each game's reviewed images, held out (default 0.25)",
    )
    parser.add_argument(
        "--real-share",
        type=float,
        default=0.5,
        help="of the training weight, the reviewed images' together (default 0.5)",
    )
    parser.add_argument(
        "--max-wrong",
        type=float,
        default=0.10,
        help="calibration: the expected share of new screenshots named a wrong game (default 0.10)",
    )


def _heads(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("heads (--method logreg or cosine)")
    group.add_argument(
        "--views", type=int, default=8, help="heads: views of each reviewed image, 1 = as is (default 8)"
    )
    group.add_argument(
        "--embedding",
        default="stages",
        choices=("stages", "pooled"),
        help="heads: what the head reads: the pooled embedding and every stage's mean and spread, where "
        "the backbone has such a variant (stages), or the pooled embedding alone (default stages)",
    )
    group.add_argument("--folds", type=int, default=5, help="heads: cross-fitting folds (default 5)")
    group.add_argument(
        "--c", type=float, default=10.0, help="logreg: inverse regularisation strength (default 10)"
    )
    group.add_argument(
        "--base-per-class",
        type=int,
        default=100,
        help="heads: base frames per game, 0 = the whole train split (default 100)",
    )


def _finetune(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("fine-tuning (--method finetune)")
    group.add_argument("--finetune-epochs", type=int, default=2, help="finetune: epochs (default 2)")
    group.add_argument(
        "--finetune-head-epochs", type=int, default=1, help="finetune: head-only epochs (default 1)"
    )
    group.add_argument(
        "--finetune-steps", type=int, default=60, help="finetune: steps per epoch (default 60)"
    )
    group.add_argument("--lr", type=float, default=1e-3, help="finetune: head learning rate (default 1e-3)")


def _running(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    parser.add_argument("--workers", type=int, default=1, help="data-loading processes (default 1)")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch CPU threads, 0 = torch's default (default 0)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="hold-out, folds, views and sampling seed (default 0)"
    )
    parser.add_argument("--force", action="store_true", help="replace NEW_RUN's model if it has one")
