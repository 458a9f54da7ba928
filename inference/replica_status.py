"""What one replica's reconciler reports, as a JSON file (one per replica, in REPLICA_STATUS_DIR): the
declared revision it applies, whether it has converged, and what its TorchServe serves, with each
version's workers and the handler's description. Its gateway reads the file for its view of the model
(it never calls the management API), and ``python -m ops.models show`` reads every replica's.

A wire contract between the operator's reconciler (ops/) and the gateway, so it lives in inference/;
standard library and pydantic only.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field


class Worker(BaseModel):
    id: str | None = None
    status: str | None = None
    pid: int | None = None


class VersionView(BaseModel):
    version: str
    archive: str
    workers: list[Worker] = Field(default_factory=list)
    digest: str | None = None
    batch_size: int | None = None
    max_batch_delay: int | None = None
    description: dict[str, Any] = Field(default_factory=dict)  # the handler's (labels, provenance, ...)

    @property
    def ready(self) -> int:
        return sum(1 for w in self.workers if w.status == "READY")


class Canary(BaseModel):
    version: str
    share: float


class ModelView(BaseModel):
    default: str | None = None  # served by default now
    declared_default: str | None = None
    canary: Canary | None = None  # declared; shadowed by the gateway once its workers are READY
    versions: list[VersionView] = Field(default_factory=list)

    def version(self, version: str | None) -> VersionView | None:
        return next((v for v in self.versions if v.version == version), None)


class ReplicaStatus(BaseModel):
    replica: str
    updated_at: float = Field(default_factory=time.time)
    revision: str | None = None  # the declared file's revision applied (the last valid one read)
    declared_valid: bool = True  # False: the file is invalid and the last valid state is kept
    declared_error: str | None = None
    torchserve: str = "starting"  # starting, up or unreachable
    converged: bool = False
    ready: bool = False  # converged since the replica last had no READY default: its readiness
    pending: list[str] = Field(default_factory=list)
    last_error: str | None = None
    models: dict[str, ModelView] = Field(default_factory=dict)

    def age(self, now: float | None = None) -> float:
        return (now or time.time()) - self.updated_at

    def serving(self) -> dict[str, Any]:
        """What it serves, in short: per model the default and each version's workers and digest."""
        return {
            name: {
                "default": model.default,
                "versions": {
                    v.version: {"workers": len(v.workers), "ready": v.ready, "digest": v.digest}
                    for v in model.versions
                },
            }
            for name, model in self.models.items()
        }


def write(status: ReplicaStatus, path: Path) -> None:
    """Replace ``path`` atomically: its readers (the gateway, every request) never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(status.model_dump_json())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def read(path: Path) -> ReplicaStatus:
    return ReplicaStatus.model_validate_json(path.read_bytes())


def read_all(folder: Path) -> list[ReplicaStatus]:
    """Every replica's report in ``folder`` (unreadable ones skipped: one being replaced, or not ours)."""
    found = []
    for path in sorted(folder.glob("*.json")):
        with contextlib.suppress(OSError, ValueError):
            found.append(read(path))
    return found
