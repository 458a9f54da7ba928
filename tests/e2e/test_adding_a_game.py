"""Adding a game as docs/development.md's "Adding a game" does it, with no code change: an operator's
games table (the seven and Armored Core VI, with no synthetic look) named by FSL_GAMES_FILE, synthetic
frames of all eight, the tiny backbone trained, evaluated and exported, the archive declared and served by
a real TorchServe and its reconciler, the real gateway behind nginx serving the built page. Then the
models view lists the eight games, a frame of the new game is answered with all eight ranked (top_k 8),
a vote may name it, and the page in Chromium shows it in its footer.

Bounded to about a minute of training on two loaded cores: 320 frames, one epoch of the tiny backbone,
two timing runs per serving form (the model need not be good: its outputs and names are what is tested)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from inference.games_table import ENV_VAR
from inference.labels import LABELS
from launchers.gateway import gateway_env, start_gateway
from launchers.nginx import start_nginx
from launchers.procs import require_binary
from launchers.redis import RedisServer
from launchers.torchserve import start_torchserve
from tests.conftest import REPO, run_cli, tiny_run
from tests.support.feedback import post_feedback
from tests.support.games import NEW_FOLDER, NEW_LABEL, NEW_NAME, eight_game_table

EIGHT = (*LABELS, NEW_LABEL)  # the shipped seven (this test process reads the shipped table), then the new


@pytest.fixture
def eight_games(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The operator's table, in the environment of every command and server this test starts."""
    table = eight_game_table(tmp_path / "games.toml")
    monkeypatch.setenv(ENV_VAR, str(table))
    return table


def train_and_export(data: Path, run: Path, store: Path) -> Path:
    """synthesize -> prepare -> train -> evaluate -> export, as the section's steps run them."""
    run_cli("synthesize", data, "--images", "320", "--seed", "7")
    tiny_run(data, run, seed=0, epochs=1, lr=0.003)
    run_cli("export", run, "--model-store", store, "--timing-runs", "2")
    return store / "fromsoft.mar"


def page_shows(base: str, names: list[str], out_dir: Path) -> subprocess.CompletedProcess[str]:
    """frontend/e2e/games.mjs in Chromium: the page's footer names every one of ``names``."""
    env = {
        **os.environ,
        "BASE_URL": base,
        "GAMES": json.dumps(names),
        "OUT_DIR": str(out_dir),
        "CHROMIUM": require_binary("chromium", "apt-get install chromium"),
    }
    return subprocess.run(
        ["node", "e2e/games.mjs"], cwd=REPO / "frontend", env=env, capture_output=True, text=True, timeout=120
    )


def test_an_eighth_game_in_the_table_is_trained_served_answered_and_shown(
    eight_games: Path, built_frontend: Path, tmp_path: Path
):
    require_binary("node", "apt-get install nodejs")
    data = tmp_path / "data"
    train_and_export(data, tmp_path / "run", tmp_path / "store")
    assert (data / "FromSoftwareImages" / NEW_FOLDER).is_dir()  # the derived look drew it

    torchserve = start_torchserve(tmp_path / "store", tmp_path / "torchserve")
    redis = gateway = edge = None
    try:
        redis = RedisServer(tmp_path / "redis").start()
        gateway = start_gateway(tmp_path, gateway_env(torchserve, redis.url, RATE_LIMIT="1000/minute"))
        edge = start_nginx(tmp_path, gateway.port, built_frontend)

        view = httpx.get(f"{edge.url}/api/v1/models", timeout=30).json()
        assert [game["label"] for game in view["labels"]] == list(EIGHT)
        assert view["labels"][-1] == {"label": NEW_LABEL, "name": NEW_NAME}

        frame = sorted((data / "FromSoftwareImages" / NEW_FOLDER).glob("*.jpg"))[0].read_bytes()
        answer = httpx.post(
            f"{edge.url}/api/v1/classify",
            params={"top_k": len(EIGHT)},
            files={"file": ("ac6.jpg", frame, "image/jpeg")},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        ranked = answer.json()["top_k"]
        assert sorted(r["label"] for r in ranked) == sorted(EIGHT)
        assert [r["probability"] for r in ranked] == sorted((r["probability"] for r in ranked), reverse=True)
        assert {"label": NEW_LABEL, "name": NEW_NAME} in [
            {"label": r["label"], "name": r["name"]} for r in ranked
        ]

        verdict = "right" if answer.json()["label"] == NEW_LABEL else "wrong"
        vote = post_feedback(edge.url, frame, verdict, NEW_LABEL)
        assert vote.status_code == 201, vote.text
        assert vote.json()["feedback"]["label"] == NEW_LABEL

        shown = page_shows(edge.url, [game["name"] for game in view["labels"]], tmp_path)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert NEW_NAME in shown.stdout
    finally:
        for server in (edge, gateway, redis, torchserve):
            if server is not None:
                server.stop()
