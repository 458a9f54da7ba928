"""Every command an operator or user types (ops.models and each of its commands, ops.feedback and each
of its commands, ops.keys and each of its commands, ops.reconciler, ops.torchserve, ops.kserve_config,
client and its commands, training and each step) answers ``--help`` with an example of itself, and a
wrong argument with one line on standard error and exit status 2."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pytest

import client.cli
import training.__main__
from ops import feedback, keys, kserve_config, models, reconciler, torchserve

Main = Callable[[list[str]], object]


def subcommands(parser: argparse.ArgumentParser) -> list[str]:
    """The commands a parser dispatches to, as it lists them (so a new one is tested as it is added)."""
    return [
        name
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for name in action.choices
    ]


COMMANDS: list[tuple[str, Main, list[str]]] = [
    ("ops.models", models.main, []),
    *[("ops.models", models.main, [name]) for name in subcommands(models.parser())],
    ("ops.feedback", feedback.main, []),
    *[("ops.feedback", feedback.main, [name]) for name in subcommands(feedback.parser())],
    ("ops.keys", keys.main, []),
    *[("ops.keys", keys.main, [name]) for name in subcommands(keys.parser())],
    ("ops.reconciler", reconciler.main, []),
    ("ops.torchserve", torchserve.main, []),
    ("ops.kserve_config", kserve_config.main, []),
    ("client", client.cli.main, []),
    *[("client", client.cli.main, [name]) for name in subcommands(client.cli.parser())],
    ("training", training.__main__.main, []),
    *[("training", training.__main__.main, [name]) for name in training.__main__.COMMANDS],
]
IDS = [" ".join([module, *prefix]) for module, _, prefix in COMMANDS]


def exit_status(main: Main, argv: list[str]) -> int | str | None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    return exited.value.code


@pytest.mark.parametrize(("module", "main", "prefix"), COMMANDS, ids=IDS)
def test_help_ends_with_an_example_of_the_command(module, main, prefix, capsys):
    assert exit_status(main, [*prefix, "--help"]) == 0
    shown = capsys.readouterr().out
    example = shown.split("\nexample:\n", 1)[1]
    assert f"python -m {' '.join([module, *prefix])} " in example.split("\n\n")[0]


@pytest.mark.parametrize(("module", "main", "prefix"), COMMANDS, ids=IDS)
def test_a_wrong_argument_is_one_line_that_points_to_help_and_exit_status_2(module, main, prefix, capsys):
    assert exit_status(main, [*prefix, "--no-such-option"]) == 2
    said = capsys.readouterr()
    assert said.out == ""
    assert said.err.count("\n") == 1, said.err
    assert said.err.startswith(f"python -m {module}")
    assert said.err.endswith(" --help\n")
    assert "usage:" not in said.err
