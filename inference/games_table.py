"""The games table: which games the model tells apart, read from a TOML file (``inference/games.toml``,
or an operator's own that ``FSL_GAMES_FILE`` names) and checked as a whole before anything uses it.

A table is data an operator edits, so every mistake in it is refused here with the file, the game and
the key in one line: a wrong table would otherwise surface as a shape mismatch deep inside training, a
folder that ``prepare`` does not recognise, or a page whose games disagree with its answers."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_FILE = Path(__file__).with_name("games.toml")
ENV_VAR = "FSL_GAMES_FILE"
RESERVED = "unknown"  # the answer below the threshold (inference.labels.UNKNOWN_LABEL), never a game
LABEL = re.compile(r"[a-z0-9_]+")
KEYS = {"label", "name", "folder", "real_count", "aliases", "look"}


class GamesTableError(ValueError):
    """A games table that cannot be used; the message names the file, the game and what is wrong."""


@dataclass(frozen=True)
class Game:
    label: str
    name: str  # display name
    folder: str  # FromSoftwareImages/<folder>/ in the real data set
    real_count: int  # its training images in the real data set: synthetic class sizes follow them
    aliases: tuple[str, ...]  # further folder names; the label, the name and the folder always count
    look: dict[str, Any] | None  # the synthetic generator's look (training.game_looks), when given

    def spellings(self) -> tuple[str, ...]:
        """Every folder name that means this game, squashed (see ``squash``)."""
        names = (self.label, self.name, self.folder, *self.aliases)
        return tuple(dict.fromkeys(squash(name) for name in names))


def squash(name: str) -> str:
    """A folder name compared without case, spaces or punctuation: "Demon's Souls" -> "demonssouls"."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def table_path(env: Mapping[str, str]) -> Path:
    """The operator's table when ``FSL_GAMES_FILE`` names one, else the shipped default."""
    named = env.get(ENV_VAR, "").strip()
    return Path(named) if named else DEFAULT_FILE


def load_games(path: Path) -> tuple[Game, ...]:
    """The table in ``path``, checked; a GamesTableError says what is wrong."""
    where = str(path) if path == DEFAULT_FILE else f"{ENV_VAR}={path}"
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GamesTableError(f"{where}: cannot read the games table: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise GamesTableError(f"{where}: not a valid TOML file: {exc}") from None
    rows = document.get("game")
    if not isinstance(rows, list) or len(rows) < 2:
        raise GamesTableError(f"{where}: name at least two games, one [[game]] table each")
    games = tuple(_game(row, f"{where}: game {i + 1}") for i, row in enumerate(rows))
    _check_unique(games, where)
    return games


def _game(row: Any, where: str) -> Game:
    if not isinstance(row, dict):
        raise GamesTableError(f"{where}: must be a [[game]] table")
    label = row.get("label")
    if not isinstance(label, str) or not LABEL.fullmatch(label):
        raise GamesTableError(f"{where}: label must be lowercase letters, digits and _ (got {label!r})")
    where = f"{where} ({label})"
    if label == RESERVED:
        raise GamesTableError(f"{where}: '{RESERVED}' is the answer below the threshold, not a game")
    if unknown := sorted(set(row) - KEYS):
        raise GamesTableError(f"{where}: unknown key {', '.join(unknown)} (known: {', '.join(sorted(KEYS))})")
    name, folder = _text(row, "name", where), _text(row, "folder", where)
    count = row.get("real_count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise GamesTableError(f"{where}: real_count must be a whole number above 0 (got {count!r})")
    aliases = row.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and squash(a) for a in aliases):
        raise GamesTableError(f"{where}: aliases must be a list of folder names, each with a letter or digit")
    look = row.get("look")
    if look is not None and not isinstance(look, dict):
        raise GamesTableError(f"{where}: look must be a table ([game.look])")
    return Game(label, name, folder, count, tuple(aliases), look)


def _text(row: dict[str, Any], key: str, where: str) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not squash(value):
        raise GamesTableError(f"{where}: {key} must be text with a letter or digit (got {value!r})")
    return value


def _check_unique(games: tuple[Game, ...], where: str) -> None:
    """Labels and display names once each; no folder name that could mean two games."""
    seen_labels: set[str] = set()
    seen_names: set[str] = set()
    owner: dict[str, str] = {}
    for game in games:
        if game.label in seen_labels:
            raise GamesTableError(f"{where}: label {game.label} is named twice")
        if game.name in seen_names:
            raise GamesTableError(f"{where}: name {game.name!r} is given to two games")
        seen_labels.add(game.label)
        seen_names.add(game.name)
        for spelling in game.spellings():
            if owner.setdefault(spelling, game.label) != game.label:
                raise GamesTableError(
                    f"{where}: the folder name {spelling!r} would mean both {owner[spelling]} and "
                    f"{game.label} (a label, name, folder or alias of each)"
                )
