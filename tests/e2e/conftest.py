"""Fixtures the end-to-end tests share: the built web client, as nginx serves it."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.fixture
def built_frontend() -> Iterator[Path]:
    """frontend/dist (built by `make setup`), copied where nginx's worker may read it."""
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
