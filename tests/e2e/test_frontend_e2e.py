"""The web client in Debian's Chromium against the real stack: nginx serving frontend/dist, the gateway,
TorchServe and Redis on free ports. The scenarios live in frontend/e2e/run.mjs (playwright-core); each
saves a page screenshot under artifacts/e2e/."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.gateway import gateway_env, start_gateway
from tests.support.nginx import start_nginx
from tests.support.procs import require_binary
from tests.support.redis import RedisServer

ARTIFACTS = REPO / "artifacts" / "e2e"


@pytest.fixture
def built_frontend() -> Iterator[Path]:
    dist = REPO / "frontend" / "dist"
    if not (dist / "index.html").is_file():
        pytest.fail("frontend/dist is missing: run `make setup` (it builds the front end)", pytrace=False)
    # A world-readable copy: nginx's unprivileged worker may not read a checkout in a private home.
    root = Path(tempfile.mkdtemp(prefix="fromsoft-web-"))
    shutil.copytree(dist, root, dirs_exist_ok=True)
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield root
    shutil.rmtree(root)


def test_browser_scenarios_against_the_real_stack(torchserve, built_frontend, screenshots, tmp_path):
    require_binary("node", "apt-get install nodejs")
    chromium = require_binary("chromium", "apt-get install chromium")
    redis = RedisServer(tmp_path / "redis").start()
    gateway = edge = None
    try:
        gateway = start_gateway(
            tmp_path,
            gateway_env(torchserve, redis.url, RATE_LIMIT="12/minute"),
            workers=2,  # an explanation costs 5
        )
        edge = start_nginx(tmp_path, gateway.port, built_frontend)
        shot = next(p for p in sorted(screenshots.rglob("*.jpg")) if 200_000 < p.stat().st_size < 2_000_000)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "BASE_URL": edge.url,
            "SCREENSHOT": str(shot),
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
        for name in ("result", "heatmap", "cached", "unsupported", "about", "rate-limited"):
            assert (ARTIFACTS / f"{name}.png").is_file(), name
    finally:
        for server in (edge, gateway, redis):
            if server is not None:
                server.stop()
