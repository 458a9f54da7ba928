"""``python -m training <command>``: one sub-command per pipeline step, each in its own module."""

from __future__ import annotations

import importlib
import sys

from commandline import CommandParser
from training.cli import apply_config_file

# Each step: its module (imported only when it runs: train's imports torch), what it does, and how it is
# typed (docs/training.md has the whole pipeline).
COMMANDS = {
    "synthesize": (
        "training.synthesize",
        "write the embedded synthetic data set in the Kaggle layout",
        "python -m training synthesize data/synthetic --images 2800",
    ),
    "prepare": (
        "training.prepare",
        "index a folder-per-class root into a leakage-free split",
        "python -m training prepare data/synthetic --out runs/demo",
    ),
    "train": (
        "training.train",
        "fine-tune a backbone (training.backbones) on a prepared run directory",
        "python -m training train runs/demo --arch efficientnet_lite0 --epochs 3 --head-epochs 2",
    ),
    "evaluate": (
        "training.evaluate",
        "test-split metrics, calibration and the unknown threshold",
        "python -m training evaluate runs/demo --ood-dir runs/demo/photos",
    ),
    "photos": (
        "training.ood_photos",
        "write photos that are no game's screenshots, for evaluate --ood-dir",
        "python -m training photos runs/demo/photos",
    ),
    "refresh": (
        "training.refresh",
        "retrain a run on a reviewed export (ops.feedback export), held-out part kept",
        "python -m training refresh runs/demo --reviewed var/reviewed --out runs/demo-r1 "
        "--default-archive model_store/fromsoft.mar",
    ),
    "export": (
        "training.export",
        "package the best checkpoint as a TorchServe archive",
        "python -m training export runs/demo --version 2.0 --archive-name fromsoft-2.0",
    ),
    "card": (
        "training.model_card",
        "render an evaluated run's model card as markdown",
        "python -m training card runs/demo --out docs/model-card.md",
    ),
}
PROG = "python -m training"


def steps() -> CommandParser:
    """The command list alone: each step's own options are added only for the step that runs."""
    listed = "\n".join(f"  {name:<11} {what}" for name, (_, what, _) in COMMANDS.items())
    parser = CommandParser(
        prog=PROG,
        usage=f"{PROG} COMMAND [options]",
        description=f"{__doc__.splitlines()[0]}\n\ncommands:\n{listed}",
        example="\n".join(example for _, _, example in COMMANDS.values()),
    )
    parser.add_argument("command", choices=COMMANDS, metavar="COMMAND", help="a step (above)")
    return parser


def step(command: str) -> CommandParser:
    module, what, example = COMMANDS[command]
    parser = CommandParser(prog=f"{PROG} {command}", description=what, example=example)
    parser.add_argument("--config", help="YAML file of flag values that replace the defaults")
    importlib.import_module(module).add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = steps().parse_args(argv[:1]).command  # or exits: --help, or one line on what is wrong
    args = apply_config_file(step(command), argv[1:])
    return int(importlib.import_module(COMMANDS[command][0]).main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
