"""The one argument parser of the commands people type (`python -m ops.models`, `ops.reconciler`,
`ops.torchserve`, `ops.kserve_config`, `client`, `training`): every ``--help`` ends with an example, and
a wrong argument is one line on standard error, what is wrong and where to read on, exit status 2.
argparse's own prints its whole usage first, a dozen lines for `ops.models`, with the sentence last.

It imports nothing of the project, so ops/, client/ and training/ may each import it
(tests/unit/inference/test_contract.py pins the directions).
"""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

USAGE_ERROR = 2  # argparse's exit status for a wrong argument, kept for the scripts that test it


class CommandParser(argparse.ArgumentParser):
    """``example``: one command line or several, shown under ``example:`` at the end of ``--help``.
    Sub-commands (``add_subparsers().add_parser``) are parsers of this class too."""

    def __init__(self, *args: Any, example: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)
        if example is not None:
            self.add_example(example)

    def add_example(self, example: str) -> None:
        shown = "\n".join(f"  {line}" for line in example.strip().splitlines())
        self.epilog = f"example:\n{shown}" + (f"\n\n{self.epilog}" if self.epilog else "")

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: {' '.join(message.split())}; see {self.prog} --help\n")
