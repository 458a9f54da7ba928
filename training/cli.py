"""Shared command-line plumbing: ``--config FILE.yaml`` overrides flag defaults, and the final
arguments are written next to the outputs so that every run can be reproduced."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml


def apply_config_file(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse ``argv``; values from ``--config`` replace defaults, explicit flags still win."""
    args = parser.parse_args(argv)
    config = getattr(args, "config", None)
    if config:
        data = yaml.safe_load(Path(config).read_text()) or {}
        if not isinstance(data, dict):
            parser.error(f"--config {config}: expected a mapping of flag names to values")
        known = {action.dest for action in parser._actions}
        unknown = sorted(set(k.replace("-", "_") for k in data) - known)
        if unknown:
            parser.error(f"--config {config}: unknown keys {', '.join(unknown)}")
        parser.set_defaults(**{k.replace("-", "_"): v for k, v in data.items()})
        args = parser.parse_args(argv)
    return args


def plain(value: Any) -> Any:
    """Namespace values as YAML/JSON/weights-only-safe primitives (paths become strings)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def args_dict(args: argparse.Namespace) -> dict[str, Any]:
    return {k: plain(v) for k, v in vars(args).items() if k != "func"}


def save_args(args: argparse.Namespace, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(args_dict(args), sort_keys=True))
