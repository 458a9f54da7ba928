"""TorchServe's keys: read from the key file it writes at start, renewed before they expire, and handed
to the gateway without the keys it must not hold.

TorchServe expires the inference and management keys ``token_expiration_min`` after it wrote them
(``TS_TOKEN_EXPIRATION_MIN``) and never renews them itself. The reconciler renews each through the token
API (authorized by the API key, which does not expire) once less than half its lifetime is left;
TorchServe rewrites the key file. The gateway gets a file of its own with the inference key alone: the
management key and the API key, which mints new keys, never leave the reconciler's side.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

KINDS = ("inference", "management")


def read(key_file: Path) -> dict[str, Any]:
    """The key file as TorchServe wrote it."""
    data: dict[str, Any] = json.loads(key_file.read_text())
    return data


def key(key_file: Path, kind: str) -> str:
    return str(read(key_file)[kind]["key"])


def seconds_left(data: dict[str, Any], now: datetime | None = None) -> dict[str, float]:
    """Seconds until each key expires, from the expiration times TorchServe wrote beside the keys."""
    now = now or datetime.now(UTC)
    return {
        kind: (datetime.fromisoformat(data[kind]["expiration time"]) - now).total_seconds() for kind in KINDS
    }


def due(left: dict[str, float], lifetime_seconds: float) -> list[str]:
    """The keys with less than half their lifetime left."""
    return [kind for kind, seconds in left.items() if seconds < lifetime_seconds / 2]


def fresh(data: dict[str, Any], lifetime_seconds: float) -> bool:
    """Both keys have more than a sixth of their lifetime left: renewal is doing its job."""
    return all(seconds > lifetime_seconds / 6 for seconds in seconds_left(data).values())


def renew(client: httpx.Client, data: dict[str, Any], kind: str) -> None:
    """Have TorchServe replace the ``kind`` key (it rewrites its key file with the new one)."""
    response = client.get(
        "/token", params={"type": kind}, headers={"Authorization": f"Bearer {data['API']['key']}"}
    )
    response.raise_for_status()


def write_gateway_keys(data: dict[str, Any], path: Path) -> bool:
    """The inference key and its expiry, in TorchServe's format, for the gateway; True when it changed."""
    text = json.dumps({"inference": data["inference"]}, indent=2)
    try:
        if path.read_text() == text:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.chmod(temporary, 0o640)
    os.replace(temporary, path)
    return True
