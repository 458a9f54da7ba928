"""What every container test needs: podman and podman-compose, podman's locks free, and the images
built once (scripts/container_images.sh; podman's layer cache makes a rebuild quick when nothing
changed)."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import REPO
from tests.support.compose import ARTIFACTS, podman_env, release_stale_locks, require_container_tools


@pytest.fixture(scope="session")
def images() -> None:
    require_container_tools()
    release_stale_locks()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    report = ARTIFACTS / "build.jsonl"
    report.unlink(missing_ok=True)
    proc = subprocess.run(
        ["bash", "scripts/container_images.sh"],
        cwd=REPO,
        env={**podman_env(), "BUILD_REPORT": str(report), "BUILD_LOG_DIR": str(ARTIFACTS)},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    (ARTIFACTS / "build.log").write_text(proc.stdout + proc.stderr)  # each base's and image's seconds
    if proc.returncode != 0:
        pytest.fail(
            f"building the images failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}", pytrace=False
        )
