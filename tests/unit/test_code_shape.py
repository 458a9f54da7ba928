"""Rooms that stay their size: no module over 350 lines and no function over 70 outside tests, so that a
newcomer reads one job per file. Tests are exempt (a table of cases reads better whole)."""

from __future__ import annotations

import ast
import subprocess

from tests.conftest import REPO

MAX_MODULE_LINES = 350
MAX_FUNCTION_LINES = 70


def sources() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    return [path for path in listed if not path.startswith("tests/") and (REPO / path).is_file()]


def test_no_module_outside_tests_is_over_350_lines():
    long = {
        path: n for path in sources() if (n := len((REPO / path).read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}, "split these into modules of one job each"


def test_no_function_outside_tests_is_over_70_lines():
    long = {}
    for path in sources():
        for node in ast.walk(ast.parse((REPO / path).read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long[f"{path}:{node.name}"] = length
    assert long == {}, "split these into named steps"
