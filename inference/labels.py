"""The games: canonical labels, display names and the folder-name aliases that map to them, from the
games table (inference/games.toml, or the operator's own that FSL_GAMES_FILE names: inference.games_table),
read once as this module is first imported.

Every part of the stack (training, the handler, the gateway, the front end) uses these labels; the
order of ``LABELS`` is the order of the outputs of a model trained on this table. A served model carries
its own labels in its archive (training.model_meta), and the gateway and the page follow those.
"""

from __future__ import annotations

import os

from inference.games_table import Game, load_games, squash, table_path

GAMES_FILE = table_path(os.environ)
GAMES: tuple[Game, ...] = load_games(GAMES_FILE)

LABELS: tuple[str, ...] = tuple(game.label for game in GAMES)

DISPLAY_NAMES: dict[str, str] = {game.label: game.name for game in GAMES}

UNKNOWN_LABEL = "unknown"
UNKNOWN_NAME = "Not recognised"

# Every folder name a game is known by, squashed: its label, display name, real data set folder and the
# table's further aliases ("dark souls 2", "Demon's Souls", "ELDEN-RING").
_ALIASES: dict[str, str] = {spelling: game.label for game in GAMES for spelling in game.spellings()}


def canonical_label(folder_name: str) -> str | None:
    """Map a folder name such as ``"dark souls 2"`` or ``"Demon's Souls"`` to its label, or None."""
    return _ALIASES.get(squash(folder_name))


def index_to_name() -> dict[str, list[str]]:
    """TorchServe's ``index_to_name.json`` form: output index -> [label, display name]."""
    return {str(i): [label, DISPLAY_NAMES[label]] for i, label in enumerate(LABELS)}
