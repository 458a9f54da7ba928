"""The synthetic looks come from the games table: the shipped table draws the seven games as before it
existed, a look in an operator's table is checked key by key, and a game without one gets a look derived
from its label, the same in every process, so synthesize draws an eighth game with no code change."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import astuple

import pytest

from inference.games_table import ENV_VAR, GamesTableError
from inference.labels import LABELS
from tests.conftest import REPO
from tests.support.games import eight_game_table
from training.game_looks import HUDS, KAGGLE_FOLDERS, REAL_COUNTS, STRUCTURES, STYLES, derived_style, style_of

# As training/game_looks.py held them in code before the table existed.
BEFORE_FOLDERS = (
    "bloodborne",
    "dark souls",
    "dark souls 2",
    "dark souls 3",
    "demons souls",
    "elden ring",
    "sekiro",
)
BEFORE_COUNTS = (14673, 19374, 22851, 8809, 9783, 16147, 21111)
BEFORE_STYLES = {
    "bloodborne": (
        (12, 16, 34),
        (58, 66, 96),
        (34, 30, 34),
        (70, 72, 92),
        (88, 96, 122),
        (226, 230, 240),
        (140, 12, 18),
        "spires",
        "souls_bars_short",
        0.35,
        0.25,
    ),
    "dark_souls": (
        (96, 104, 98),
        (150, 146, 120),
        (62, 56, 40),
        (110, 108, 84),
        (140, 136, 112),
        (220, 210, 170),
        (170, 120, 60),
        "castle",
        "souls_bars_long",
        0.3,
        0.45,
    ),
    "dark_souls_2": (
        (60, 130, 170),
        (190, 210, 200),
        (104, 96, 70),
        (90, 150, 150),
        (170, 200, 200),
        (255, 240, 190),
        (230, 190, 90),
        "towers",
        "ds2_bars",
        0.2,
        0.2,
    ),
    "dark_souls_3": (
        (78, 76, 74),
        (170, 150, 120),
        (50, 46, 44),
        (100, 94, 90),
        (150, 140, 128),
        (255, 170, 80),
        (230, 110, 30),
        "ruins",
        "souls_bars_ds3",
        0.45,
        0.75,
    ),
    "demons_souls": (
        (70, 78, 74),
        (120, 130, 122),
        (44, 50, 46),
        (90, 98, 92),
        (130, 140, 132),
        (190, 200, 190),
        (120, 150, 110),
        "castle",
        "des_bars",
        0.6,
        0.35,
    ),
    "elden_ring": (
        (70, 110, 160),
        (220, 200, 150),
        (70, 80, 50),
        (140, 140, 100),
        (210, 196, 150),
        (255, 214, 110),
        (240, 190, 60),
        "erdtree",
        "er_bars",
        0.25,
        0.55,
    ),
    "sekiro": (
        (120, 140, 150),
        (210, 190, 160),
        (60, 64, 40),
        (120, 100, 70),
        (190, 176, 150),
        (250, 230, 200),
        (190, 50, 30),
        "pagoda",
        "sekiro",
        0.3,
        0.4,
    ),
}


def test_the_shipped_table_gives_the_folders_counts_and_looks_the_code_held():
    assert dict(zip(LABELS, BEFORE_FOLDERS, strict=True)) == KAGGLE_FOLDERS
    assert dict(zip(LABELS, BEFORE_COUNTS, strict=True)) == REAL_COUNTS
    assert {label: astuple(style) for label, style in STYLES.items()} == BEFORE_STYLES


def test_a_derived_look_is_the_labels_own_in_every_process():
    """Seeded by the label's SHA-256, not hash(): another interpreter with another hash seed agrees."""
    here = astuple(derived_style("armored_core"))
    probe = "from training.game_looks import derived_style; from dataclasses import astuple; print(astuple(derived_style('armored_core')))"  # noqa: E501
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    there = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    assert there.stdout.strip() == str(here)
    assert here != astuple(derived_style("armored_core_2"))
    style = derived_style("armored_core")
    assert style.structures in STRUCTURES
    assert style.hud in HUDS
    assert 0 <= style.fog_density <= 1
    assert 0 <= style.light_height <= 1


def _look(**changes: object) -> dict[str, object]:
    look: dict[str, object] = dict(
        zip(
            (
                "sky_top",
                "sky_horizon",
                "ground_near",
                "ground_far",
                "fog",
                "light",
                "accent",
                "structures",
                "hud",
                "fog_density",
                "light_height",
            ),
            [list(v) if isinstance(v, tuple) else v for v in BEFORE_STYLES["sekiro"]],
            strict=True,
        )
    )
    for key, value in changes.items():
        if value is None:
            look.pop(key)
        else:
            look[key] = value
    return look


def test_a_look_from_the_table_becomes_its_style():
    assert astuple(style_of(_look(), "t")) == BEFORE_STYLES["sekiro"]


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"fog": None}, "look lacks fog"),
        ({"haze": 0.2}, "look has unknown key haze"),
        ({"sky_top": [1, 2]}, "look.sky_top must be [red, green, blue], each 0-255"),
        ({"light": [0, 0, 256]}, "look.light must be [red, green, blue], each 0-255"),
        ({"structures": "skyscrapers"}, "look.structures must be one of spires, castle"),
        ({"hud": "minimap"}, "look.hud must be one of souls_bars_short"),
        ({"fog_density": 1.5}, "look.fog_density must be a number from 0 to 1"),
        ({"light_height": True}, "look.light_height must be a number from 0 to 1"),
    ],
)
def test_a_look_with_a_mistake_is_refused_naming_the_key(changes, says):
    with pytest.raises(GamesTableError, match=r"^games\.toml: game x: ") as refused:
        style_of(_look(**changes), "games.toml: game x")
    assert says in str(refused.value)


def test_synthesize_draws_an_eighth_game_the_table_gives_no_look(tmp_path):
    table = eight_game_table(tmp_path / "games.toml")
    out = tmp_path / "data"
    probe = f"from pathlib import Path; from training.synthesize import synthesize; print(sum(synthesize(Path({str(out)!r}), 80, 0, 1)))"  # noqa: E501
    env = {**os.environ, ENV_VAR: str(table)}
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "80"
    folders = {p.name: len(list(p.glob("*.jpg"))) for p in (out / "FromSoftwareImages").iterdir()}
    assert set(folders) == {*BEFORE_FOLDERS, "armored core 6"}
    assert folders["armored core 6"] >= 5  # 16000 of 128748 + 16000 real images' share of 80
