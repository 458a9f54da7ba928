"""The web client in Debian's Chromium against the real stack: nginx serving frontend/dist, the gateway,
TorchServe and Redis on free ports, the feedback store a SQLite file. The scenarios live in
frontend/e2e/run.mjs (playwright-core); each saves a page screenshot under artifacts/e2e/. The votes
its buttons send are read back from the database."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from launchers.gateway import feedback_env, gateway_env, start_gateway
from launchers.nginx import start_nginx
from launchers.procs import require_binary
from launchers.redis import RedisServer
from tests.conftest import REPO
from tests.support.feedback import held

ARTIFACTS = REPO / "artifacts" / "e2e"
SCENARIOS = (
    "notice",
    "result",
    "not-recognised",
    "heatmap",
    "cached",
    "unsupported",
    "about",
    "batch",
    "feedback",
    "share-link",
    "retired-link",
    "history",
    "rate-limited",
)


def not_recognised_shot(torchserve, candidates: list[Path]) -> Path:
    """A real screenshot the served model (trained on synthetic frames) answers "Not recognised" for,
    asked of TorchServe directly so that the gateway's rate limit is left for the scenarios (the tiny
    test model sends about a quarter of them below its threshold)."""
    for path in candidates:
        answer = torchserve.predict(path.read_bytes())
        answer.raise_for_status()
        if answer.json()["label"] == "unknown":
            return path
    pytest.fail(f"the test model recognised all {len(candidates)} real screenshots tried", pytrace=False)


def assert_votes_in_the_store(database_url: str, voted: Path, batch: list[Path]) -> None:
    """The two votes the browser sent are in the gateway's database, by their images' SHA-256: Right on
    one, Wrong: Elden Ring on the other, whose screenshot alone is kept (its box was ticked)."""
    by_name = {path.name: path.read_bytes() for path in batch}
    files = json.loads(voted.read_text())
    right, wrong = (hashlib.sha256(by_name[files[which]]).hexdigest() for which in ("right", "wrong"))
    store = held(database_url)
    votes = {sha: (verdict, label) for (sha, _), (verdict, label, _) in store.votes.items()}
    assert votes[right][0] == "right"
    assert votes[wrong] == ("wrong", "elden_ring")
    assert store.images[wrong] == by_name[files["wrong"]]
    assert right not in store.images


def test_browser_scenarios_against_the_real_stack(torchserve, built_frontend, screenshots, tmp_path):
    require_binary("node", "apt-get install nodejs")
    chromium = require_binary("chromium", "apt-get install chromium")
    redis = RedisServer(tmp_path / "redis").start()
    gateway = edge = None
    try:
        store = feedback_env(tmp_path / "store")  # a SQLite file, as the native stack's
        gateway = start_gateway(
            tmp_path,
            # About 22 units before the rate-limited scenario: an explanation costs 5, the batch 5, a vote 1
            gateway_env(torchserve, redis.url, RATE_LIMIT="40/minute", **store),
            workers=2,
        )
        edge = start_nginx(tmp_path, gateway.port, built_frontend)
        jpegs = sorted(screenshots.rglob("*.jpg"))
        shot = next(p for p in jpegs if 200_000 < p.stat().st_size < 2_000_000)
        unknown = not_recognised_shot(torchserve, [p for p in jpegs if p.stat().st_size < 5_000_000])
        batch = [p for p in jpegs if 100_000 < p.stat().st_size < 2_000_000 and p not in (shot, unknown)][:5]
        shutil.rmtree(ARTIFACTS, ignore_errors=True)  # every page screenshot checked below is this run's
        ARTIFACTS.mkdir(parents=True)
        env = {
            **os.environ,
            "BASE_URL": edge.url,
            "SCREENSHOT": str(shot),
            "UNKNOWN_SCREENSHOT": str(unknown),
            "BATCH_SHOTS": ",".join(map(str, batch)),
            "OUT_DIR": str(ARTIFACTS),
            "CHROMIUM": chromium,
        }
        run = subprocess.run(
            ["node", "e2e/run.mjs"],
            cwd=REPO / "frontend",
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        for name in SCENARIOS:
            assert (ARTIFACTS / f"{name}.png").is_file(), name
        assert_votes_in_the_store(store["DATABASE_URL"], ARTIFACTS / "feedback.json", batch)
    finally:
        for server in (edge, gateway, redis):
            if server is not None:
                server.stop()
