"""What a moderator's edits to a ``classify --csv`` file mean, row by row, for ``python -m client feedback``.

The moderator types the right game into the ``label`` column. A row whose label still says what the
server answered is a ``right`` vote; a label changed to another game is a ``wrong`` vote naming that game;
``not_a_game`` is that verdict. "Changed" is judged against ``answered_label``, the server's label that
``classify`` writes beside the one a person may edit. A CSV written before that column existed still
reads: its ``name`` column (the server's display name, which nobody needs to edit) says what was
answered.

A typed game is read as the labels' table reads a folder name (inference.labels): ``elden_ring``,
``Elden Ring`` and ``eldenring`` are one game. Anything that is no game, ``not_a_game`` or the answer
left as it was is that row's problem, reported, and nothing is sent for it. Rows that hold no answer
(the files ``classify`` could not classify) have nothing to judge and are passed over.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from client.records import unescaped
from inference.labels import DISPLAY_NAMES, LABELS, UNKNOWN_LABEL, UNKNOWN_NAME, canonical_label

NOT_A_GAME = "not_a_game"  # the API's verdict, and what a moderator types for it
SHA256 = re.compile(r"[0-9a-f]{64}")
ANSWERED_BY_NAME = {**{name: label for label, name in DISPLAY_NAMES.items()}, UNKNOWN_NAME: UNKNOWN_LABEL}


@dataclass(frozen=True)
class Correction:
    """One vote to send: the verdict on the answer ``classify`` got for ``path``."""

    path: Path
    sha256: str
    verdict: str  # right | wrong | not_a_game
    label: str | None  # the game the vote names: the typed one for "wrong", the answered one for "right"


@dataclass(frozen=True)
class Problem:
    """A row that cannot be sent as it is, and why."""

    path: str
    line: int  # the row's line in the file, its header being line 1
    why: str


@dataclass(frozen=True)
class Corrections:
    votes: list[Correction]
    problems: list[Problem]
    unanswered: int  # rows without an answer (the files classify could not classify)


def read_corrections(path: Path) -> Corrections:
    """Every row of the CSV at ``path`` as a vote, a problem, or passed over."""
    votes: list[Correction] = []
    problems: list[Problem] = []
    unanswered = 0
    # utf-8-sig: a spreadsheet that saves "CSV UTF-8" starts the file with a byte-order mark.
    with path.open(newline="", encoding="utf-8-sig") as f:
        for line, raw in enumerate(csv.DictReader(f), start=2):
            row = {key: unescaped(value or "").strip() for key, value in raw.items() if key}
            if not row.get("sha256") and not row.get("answered_label"):
                unanswered += 1  # classify wrote an error here: there is no answer to judge
                continue
            try:
                votes.append(correction(row))
            except ValueError as exc:
                problems.append(Problem(row.get("path", ""), line, str(exc)))
    return Corrections(votes, problems, unanswered)


def correction(row: dict[str, str]) -> Correction:
    """The vote one row holds; ValueError saying why when it holds none."""
    if not row.get("path"):
        raise ValueError("the row has no path")
    sha256 = row.get("sha256", "")
    if not SHA256.fullmatch(sha256):
        raise ValueError(f"sha256 {sha256!r} is not 64 lowercase hex digits")
    answered, typed = answered_label(row), typed_label(row.get("label", ""))
    path = Path(row["path"])
    if typed == answered:
        return Correction(path, sha256, "right", answered if answered in LABELS else None)
    if typed == UNKNOWN_LABEL:
        raise ValueError(
            f"label {row.get('label')!r} judges nothing where the server named a game: type the game it "
            f"is, {NOT_A_GAME}, or leave the answer"
        )
    if typed == NOT_A_GAME:
        return Correction(path, sha256, NOT_A_GAME, None)
    return Correction(path, sha256, "wrong", typed)


def typed_label(cell: str) -> str:
    """A game's label, ``not_a_game`` or ``unknown``, however the moderator spelled it; ValueError for
    anything else."""
    squashed = re.sub(r"[^a-z]", "", cell.lower())
    if squashed == NOT_A_GAME.replace("_", ""):
        return NOT_A_GAME
    if squashed in (UNKNOWN_LABEL, re.sub(r"[^a-z]", "", UNKNOWN_NAME.lower())):
        return UNKNOWN_LABEL
    game = canonical_label(cell)
    if game is None:
        choices = ", ".join((*LABELS, NOT_A_GAME))
        raise ValueError(f"label {cell!r} is not a game's: type one of {choices}, or leave the answer")
    return game


def answered_label(row: dict[str, str]) -> str:
    """What the server answered for the row: ``answered_label``, or in an older CSV its ``name``."""
    answered = row.get("answered_label") or ANSWERED_BY_NAME.get(row.get("name", ""))
    if answered not in (*LABELS, UNKNOWN_LABEL):
        raise ValueError(
            "cannot tell what the server answered (no answered_label, and the name is no game's): "
            "classify the file again"
        )
    return answered
