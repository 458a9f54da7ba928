"""How each game looks, as the synthetic frames draw it (training.synthesize renders them): its palette
and light, the silhouettes on its horizon and its HUD, plus the real data set's folder names and class
sizes that the synthetic set copies. All of it comes from the games table (inference/games.toml, or
FSL_GAMES_FILE's): tuning a game's look is an edit of its ``[game.look]`` there alone.

A game whose row has no look (one an operator adds) gets one derived from its label: the same colours,
silhouettes and HUD on every machine and in every run, so that synthesize can draw it with no hand-tuned
palette, and a model can learn it apart from the others."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from inference.games_table import GamesTableError
from inference.labels import GAMES, GAMES_FILE

# Kaggle folder names (FromSoftwareImages/<folder>), in LABELS order.
KAGGLE_FOLDERS: dict[str, str] = {game.label: game.folder for game in GAMES}

# Training-split image counts of the real data set: the synthetic classes keep these proportions.
REAL_COUNTS: dict[str, int] = {game.label: game.real_count for game in GAMES}

RGB = tuple[int, int, int]

# The silhouette and HUD families training.synthesize knows how to draw.
STRUCTURES = ("spires", "castle", "towers", "ruins", "erdtree", "pagoda")
HUDS = ("souls_bars_short", "souls_bars_long", "ds2_bars", "souls_bars_ds3", "des_bars", "er_bars", "sekiro")


@dataclass(frozen=True)
class GameStyle:
    sky_top: RGB
    sky_horizon: RGB
    ground_near: RGB
    ground_far: RGB
    fog: RGB
    light: RGB  # colour of the sun, moon or glow
    accent: RGB  # blood, embers, gold, leaves...
    structures: str  # silhouette family drawn on the horizon (STRUCTURES)
    hud: str  # HUD layout family (HUDS)
    fog_density: float
    light_height: float  # 0 = top of the frame, 1 = horizon


COLOURS = tuple(
    f.name for f in fields(GameStyle) if f.name not in ("structures", "hud", "fog_density", "light_height")
)


def _colour(value: Any, key: str, where: str) -> RGB:
    if not (
        isinstance(value, list) and len(value) == 3 and all(type(v) is int and 0 <= v <= 255 for v in value)
    ):
        raise GamesTableError(f"{where}: look.{key} must be [red, green, blue], each 0-255 (got {value!r})")
    return (value[0], value[1], value[2])


def _share(value: Any, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise GamesTableError(f"{where}: look.{key} must be a number from 0 to 1 (got {value!r})")
    return float(value)


def _family(value: Any, key: str, families: tuple[str, ...], where: str) -> str:
    if value not in families:
        raise GamesTableError(f"{where}: look.{key} must be one of {', '.join(families)} (got {value!r})")
    return str(value)


def style_of(look: dict[str, Any], where: str) -> GameStyle:
    """A table row's ``[game.look]`` as a GameStyle; every key required, none unknown."""
    expected = {f.name for f in fields(GameStyle)}
    if missing := sorted(expected - set(look)):
        raise GamesTableError(f"{where}: look lacks {', '.join(missing)}")
    if unknown := sorted(set(look) - expected):
        raise GamesTableError(f"{where}: look has unknown key {', '.join(unknown)}")
    colours: dict[str, Any] = {key: _colour(look[key], key, where) for key in COLOURS}
    return GameStyle(
        **colours,
        structures=_family(look["structures"], "structures", STRUCTURES, where),
        hud=_family(look["hud"], "hud", HUDS, where),
        fog_density=_share(look["fog_density"], "fog_density", where),
        light_height=_share(look["light_height"], "light_height", where),
    )


def _random_colour(rng: np.random.Generator) -> RGB:
    red, green, blue = (int(v) for v in rng.integers(0, 256, 3))
    return (red, green, blue)


def derived_style(label: str) -> GameStyle:
    """A look for a game the table gives none: drawn from a generator seeded by the label's SHA-256 (not
    Python's hash(), which changes between processes), so every worker and every run draws the same."""
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(label.encode()).digest()[:8], "big"))
    colours: dict[str, Any] = {key: _random_colour(rng) for key in COLOURS}
    return GameStyle(
        **colours,
        structures=str(rng.choice(STRUCTURES)),
        hud=str(rng.choice(HUDS)),
        fog_density=round(float(rng.uniform(0.15, 0.6)), 2),
        light_height=round(float(rng.uniform(0.2, 0.8)), 2),
    )


STYLES: dict[str, GameStyle] = {
    game.label: style_of(game.look, f"{GAMES_FILE}: game {game.label}")
    if game.look
    else derived_style(game.label)
    for game in GAMES
}
