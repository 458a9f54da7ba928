"""What the CLI tells about each file: a CSV it can resume from (``--csv FILE``) and a moderator can
correct for ``python -m client feedback``, JSON lines (``--json``), or one readable line per file.

Resuming: a file the CSV already holds an answer for is not sent again. Rows of files that failed are
dropped when the run starts, and those files are tried again, so the file never holds two rows for one
image and its last run's failures are those still failing. Each row is written as its answer comes, so
an interrupted run loses nothing it was told.

Cells hold the server's words, and a spreadsheet runs a cell that starts with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return as a formula (CSV injection): such a cell is written with a leading
apostrophe, as OWASP advises, which the spreadsheet shows as text. A cell that itself starts with an
apostrophe gets one too, so that reading one back (``answered``) is exact.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError
from tqdm import tqdm

from inference.answers import ClassificationBody

# ``label`` is the server's answer, for a person to correct (client.corrections); ``answered_label``
# keeps what the server said beside it. Last, so that the older columns keep their places.
COLUMNS = ("path", "sha256", "label", "name", "confidence", "model_version", "error", "answered_label")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")  # OWASP's, and the escape itself


def escaped(cell: str) -> str:
    """``cell`` as a spreadsheet shows it as text."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def unescaped(cell: str) -> str:
    """The cell ``escaped`` was given."""
    return cell[1:] if cell.startswith("'") else cell


def row_of(path: Path, answer: dict[str, Any]) -> dict[str, str]:
    """One file's row: its answer, or in ``error`` why it has none (the API's code and words)."""
    if "error" in answer:
        error = answer["error"]
        if isinstance(error, dict):
            return {"path": str(path), "error": f"{error.get('code')}: {error.get('message')}"}
        return {"path": str(path), "error": f"error: {error}"}
    try:
        classified = ClassificationBody.model_validate(answer)
    except ValidationError as exc:
        return {"path": str(path), "error": f"bad_answer: not the API's answer shape ({exc.errors()[:1]})"}
    return {
        "path": str(path),
        "sha256": classified.sha256,
        "label": classified.label,
        "name": classified.name,
        "confidence": f"{classified.confidence:.4f}",
        "model_version": classified.model.version,
        "answered_label": classified.label,
    }


class CsvRecords:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: TextIO | None = None

    def answered(self) -> dict[str, dict[str, str]]:
        """The rows with an answer, by path; the file is rewritten with those alone."""
        if not self.path.is_file():
            return {}
        with self.path.open(newline="") as f:
            rows = (
                {k: unescaped(v or "") for k, v in row.items() if k in COLUMNS} for row in csv.DictReader(f)
            )
            kept = {row["path"]: row for row in rows if row.get("label") and row.get("path")}
        partial = self.path.with_name(self.path.name + ".partial")
        with partial.open("w", newline="") as f:
            writer = csv.DictWriter(f, COLUMNS)
            writer.writeheader()
            writer.writerows(_escaped(row) for row in kept.values())
        os.replace(partial, self.path)
        return kept

    def add(self, row: dict[str, str]) -> None:
        if self._file is None:
            new = not self.path.is_file() or self.path.stat().st_size == 0
            self._file = self.path.open("a", newline="")
            if new:
                csv.DictWriter(self._file, COLUMNS).writeheader()
        csv.DictWriter(self._file, COLUMNS).writerow(_escaped(row))
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _escaped(row: dict[str, str]) -> dict[str, str]:
    return {column: escaped(cell) for column, cell in row.items()}


class JsonLines:
    """One JSON object per file on standard output: the row, and the answer's ``top_k`` when it has one."""

    def add(self, row: dict[str, str], answer: dict[str, Any] | None = None) -> None:
        extra = {"top_k": answer["top_k"]} if answer and "top_k" in answer else {}
        say(json.dumps({**row, **extra}), stdout=True)


def readable(row: dict[str, str]) -> str:
    """The line a person reads for one file."""
    if row.get("error"):
        return f"{row['path']}\tFAILED {row['error']}"
    return f"{row['path']}\t{row['name']} ({float(row['confidence']):.1%})"


def say(line: str, stdout: bool = False) -> None:
    """``line`` above the progress bar, which tqdm then draws again; on standard error unless
    ``stdout``."""
    tqdm.write(line, file=sys.stdout if stdout else sys.stderr)
