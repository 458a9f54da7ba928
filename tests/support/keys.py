"""Clients' API keys as an operator makes them, with the real tool (``python -m ops.keys``) pointed at a
test store, and keyed requests as a client sends them."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from launchers import REPO


def keys_tool(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m ops.keys ARGS`` with the store's settings ``env`` (DATABASE_URL, API_KEY_PEPPER_FILE)."""
    return subprocess.run(
        [sys.executable, "-m", "ops.keys", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def make_key(env: dict[str, str], name: str, *options: str) -> str:
    """A new key, as ``create`` prints it once."""
    made = keys_tool(env, "create", name, *options)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def prefix(key: str) -> str:
    return key.split("_")[1]


def keyed_classify(base: str, image: bytes, key: str | None, timeout: float = 60) -> httpx.Response:
    headers = {"X-API-Key": key} if key is not None else {}
    return httpx.post(
        f"{base}/api/v1/classify",
        files={"file": ("shot.jpg", image, "image/jpeg")},
        headers=headers,
        timeout=timeout,
    )


def me(base: str, key: str) -> httpx.Response:
    return httpx.get(f"{base}/api/v1/me", headers={"X-API-Key": key}, timeout=30)
