"""``python -m training <command>``: one sub-command per pipeline step, each in its own module."""

from __future__ import annotations

import argparse
import importlib
import sys

from training.cli import apply_config_file

COMMANDS = {
    "synthesize": ("training.synthesize", "write the embedded synthetic data set in the Kaggle layout"),
    "prepare": ("training.prepare", "index a folder-per-class root into a leakage-free split"),
    "train": ("training.train", "fine-tune a backbone (training.backbones) on a prepared run directory"),
    "evaluate": ("training.evaluate", "test-split metrics, calibration and the unknown threshold"),
    "photos": ("training.ood_photos", "write photos that are no game's screenshots, for evaluate --ood-dir"),
    "refresh": (
        "training.refresh",
        "retrain a run on a reviewed export (ops.feedback export), held-out part kept",
    ),
    "export": ("training.export", "package the best checkpoint as a TorchServe archive"),
    "card": ("training.model_card", "render an evaluated run's model card as markdown"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        lines = "\n".join(f"  {name:<11} {help_}" for name, (_, help_) in COMMANDS.items())
        print(f"usage: python -m training <command> [options]\n\ncommands:\n{lines}", file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(COMMANDS[argv[0]][0])
    parser = argparse.ArgumentParser(prog=f"python -m training {argv[0]}", description=COMMANDS[argv[0]][1])
    parser.add_argument("--config", help="YAML file of flag values that replace the defaults")
    module.add_arguments(parser)
    args = apply_config_file(parser, argv[1:])
    return int(module.main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
