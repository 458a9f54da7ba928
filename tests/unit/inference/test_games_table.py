"""The games table (inference/games.toml, or FSL_GAMES_FILE's): the shipped table is the seven games as
they were written in code before it, an operator's table adds a game without a code change, and every
mistake in one is refused with the file, the game and the key."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from inference import labels
from inference.games_table import DEFAULT_FILE, ENV_VAR, GamesTableError, load_games, table_path
from tests.conftest import REPO
from tests.support.games import ARMORED_CORE

# The seven games exactly as inference/labels.py held them in code before the table existed.
BEFORE_LABELS = (
    "bloodborne",
    "dark_souls",
    "dark_souls_2",
    "dark_souls_3",
    "demons_souls",
    "elden_ring",
    "sekiro",
)
BEFORE_NAMES = {
    "bloodborne": "Bloodborne",
    "dark_souls": "Dark Souls",
    "dark_souls_2": "Dark Souls II",
    "dark_souls_3": "Dark Souls III",
    "demons_souls": "Demon's Souls",
    "elden_ring": "Elden Ring",
    "sekiro": "Sekiro: Shadows Die Twice",
}
BEFORE_ALIASES = {
    "bloodborne": "bloodborne",
    "darksouls": "dark_souls",
    "darksouls1": "dark_souls",
    "darksoulsremastered": "dark_souls",
    "darksouls2": "dark_souls_2",
    "darksoulsii": "dark_souls_2",
    "darksouls3": "dark_souls_3",
    "darksoulsiii": "dark_souls_3",
    "demonssouls": "demons_souls",
    "demonsouls": "demons_souls",
    "eldenring": "elden_ring",
    "sekiro": "sekiro",
    "sekiroshadowsdietwice": "sekiro",
}


def default_text() -> str:
    return DEFAULT_FILE.read_text()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "games.toml"
    path.write_text(text)
    return path


def test_the_shipped_table_is_the_seven_games_as_the_code_held_them():
    assert labels.LABELS == BEFORE_LABELS
    assert labels.DISPLAY_NAMES == BEFORE_NAMES
    assert labels._ALIASES == BEFORE_ALIASES
    assert labels.GAMES_FILE == DEFAULT_FILE


def test_without_the_variable_the_shipped_table_is_read_and_with_it_the_operators():
    assert table_path({}) == DEFAULT_FILE
    assert table_path({ENV_VAR: " "}) == DEFAULT_FILE
    assert table_path({ENV_VAR: "/etc/lens/games.toml"}) == Path("/etc/lens/games.toml")


def test_an_operators_table_adds_a_game_after_the_seven_with_its_folder_names(tmp_path):
    games = load_games(write(tmp_path, default_text() + ARMORED_CORE))
    assert tuple(g.label for g in games) == (*BEFORE_LABELS, "armored_core")
    added = games[-1]
    assert (added.name, added.folder, added.real_count, added.look) == (
        "Armored Core VI",
        "armored core 6",
        16000,
        None,
    )
    assert set(added.spellings()) == {"armoredcore", "armoredcorevi", "armoredcore6", "ac6"}


def test_the_variable_reaches_every_process_that_imports_the_labels(tmp_path):
    """The labels are read once, as inference.labels is imported: a training command or a gateway started
    with FSL_GAMES_FILE knows the eighth game, its folder and its display name."""
    table = write(tmp_path, default_text() + ARMORED_CORE)
    probe = (
        "from inference.labels import LABELS, DISPLAY_NAMES, canonical_label, index_to_name; "
        "print(len(LABELS), canonical_label('Armored Core 6'), index_to_name()['7'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env={ENV_VAR: str(table)}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "8 armored_core ['armored_core', 'Armored Core VI']"


def test_a_broken_table_stops_the_first_import_with_the_variable_and_the_reason(tmp_path):
    table = write(tmp_path, default_text() + ARMORED_CORE.replace('name = "Armored Core VI"\n', ""))
    done = subprocess.run(
        [sys.executable, "-c", "import inference.labels"],
        cwd=REPO,
        env={ENV_VAR: str(table)},
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert f"GamesTableError: {ENV_VAR}={table}: game 8 (armored_core): name must be text" in done.stderr


def _first_game(**changes: object) -> str:
    """The shipped table with its first game's keys changed (None: removed)."""
    document = tomllib.loads(default_text())
    first = document["game"][0]
    for key, value in changes.items():
        if value is None:
            first.pop(key, None)
        else:
            first[key] = value
    return _toml(document)


def _toml(document: dict) -> str:
    """Enough TOML for these tables: strings, numbers, lists and one nested table per game."""

    def value(v: object) -> str:
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return str(v).lower() if isinstance(v, bool) else str(v)

    lines = []
    for game in document["game"]:
        lines.append("[[game]]")
        lines += [f"{k} = {value(v)}" for k, v in game.items() if not isinstance(v, dict)]
        for k, v in game.items():
            if isinstance(v, dict):
                lines.append(f"[game.{k}]")
                lines += [f"{kk} = {value(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"


def test_the_toml_writer_of_these_tests_round_trips_the_shipped_table():
    assert tomllib.loads(_toml(tomllib.loads(default_text()))) == tomllib.loads(default_text())


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not = [valid", "not a valid TOML file"),
        ("", "name at least two games"),
        ('[[game]]\nlabel = "a"\nname = "A"\nfolder = "a"\nreal_count = 1\n', "name at least two games"),
        (_first_game(label="Bloodborne"), "game 1: label must be lowercase letters, digits and _"),
        (_first_game(label="unknown"), "game 1 (unknown): 'unknown' is the answer below the threshold"),
        (_first_game(label="sekiro"), "label sekiro is named twice"),
        (_first_game(name=None), "game 1 (bloodborne): name must be text"),
        (_first_game(name="Elden Ring"), "name 'Elden Ring' is given to two games"),
        (_first_game(folder="  "), "game 1 (bloodborne): folder must be text"),
        (_first_game(real_count=0), "real_count must be a whole number above 0"),
        (_first_game(real_count="many"), "real_count must be a whole number above 0"),
        (_first_game(aliases="blood"), "aliases must be a list of folder names"),
        (_first_game(aliases=["--"]), "aliases must be a list of folder names"),
        (_first_game(aliases=["Elden-Ring"]), "'eldenring' would mean both bloodborne and elden_ring"),
        (_first_game(display_name="Bloodborne"), "unknown key display_name"),
        (_first_game(look="gothic"), "look must be a table"),
    ],
)
def test_a_table_with_a_mistake_is_refused_saying_where_and_what(tmp_path, text, says):
    with pytest.raises(GamesTableError, match="^" + re.escape(f"{ENV_VAR}={tmp_path}")) as refused:
        load_games(write(tmp_path, text))
    assert says in str(refused.value)


def test_a_missing_table_is_refused_with_its_path(tmp_path):
    with pytest.raises(GamesTableError, match="cannot read the games table"):
        load_games(tmp_path / "absent.toml")
