"""TorchServe's keys: read from the key file it writes at start, renewed before they expire, and handed
to the gateway without the keys it must not hold.

TorchServe expires the inference and management keys ``token_expiration_min`` after it wrote them
(``TS_TOKEN_EXPIRATION_MIN``) and never renews them itself. The reconciler renews each through the token
API (authorized by the API key, which does not expire) once less than half its lifetime is left;
TorchServe rewrites the key file. The gateway gets a file of its own with the inference key alone: the
management key and the API key, which mints new keys, never leave the reconciler's side. That file is
its owner's alone (0600): the reconciler and the gateway run as one user wherever they run (the native
stack's; uid 1000 in compose's serving unit and in every container of the Kubernetes serving pod), so no
group needs to read it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from ops.whole_files import replace_whole

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
    replace_whole(path, text, 0o600)
    return True
