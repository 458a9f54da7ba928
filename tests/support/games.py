"""An operator's games table for the tests of adding a game: the shipped seven and Armored Core VI, a
game with real-data folder names and no synthetic look (training.game_looks derives one)."""

from __future__ import annotations

from pathlib import Path

from inference.games_table import DEFAULT_FILE

NEW_LABEL, NEW_NAME, NEW_FOLDER = "armored_core", "Armored Core VI", "armored core 6"

ARMORED_CORE = f"""
[[game]]
label = "{NEW_LABEL}"
name = "{NEW_NAME}"
folder = "{NEW_FOLDER}"
real_count = 16000
aliases = ["armored core vi", "ac6"]
"""


def eight_game_table(path: Path) -> Path:
    """The shipped table with Armored Core VI added after the seven, written to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DEFAULT_FILE.read_text() + ARMORED_CORE)
    return path
