"""What this replica's TorchServe serves, as every gateway worker sees it: the default version, every
version's workers, and the handler's own description of the default (labels, preprocessing version,
digest, provenance). It comes from the report the replica's reconciler writes (inference.replica_status), not
from TorchServe's management API, whose key the gateway does not hold.

The report is looked at on every request (one ``stat``; read again only when it changed), so a new
default changes the cache keys as soon as the reconciler has reported it, and ``GET /api/v1/models``
answers from memory. A refresher keeps the metrics current when no request comes.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.drift import show_reference
from gateway.errors import ApiError
from gateway.metrics import ModelGauges
from gateway.upstream import RETRY_AFTER
from inference.labels import LABELS
from inference.replica_status import Canary, ModelView, ReplicaStatus, Worker, read

logger = logging.getLogger(__name__)


def _workers(workers: list[Worker]) -> list[dict[str, Any]]:
    return [{"id": w.id, "status": w.status} for w in workers]


@dataclass
class ModelState:
    status_file: Path | None
    model: str
    refresh_seconds: float
    default_version: str | None = None
    declared_default: str | None = None
    workers: list[dict[str, Any]] = field(default_factory=list)  # the default version's
    versions: list[dict[str, Any]] = field(default_factory=list)  # every version, with its workers
    description: dict[str, Any] = field(default_factory=dict)  # the default version's, by its handler
    canary: Canary | None = None  # declared, and with a READY worker to ask
    report: ReplicaStatus | None = None
    _seen: tuple[int, int] | None = None  # the report's (mtime, size) when last read
    _trouble: str | None = None  # why the last look found no report
    gauges: ModelGauges = field(init=False)  # the snapshot as metrics

    def __post_init__(self) -> None:
        self.gauges = ModelGauges(self.model)

    @property
    def ready(self) -> bool:
        """The replica converged since it last had no READY default, and the default has a READY worker."""
        ready_workers = any(w.get("status") == "READY" for w in self.workers)
        return self.report is not None and self.report.ready and ready_workers

    @property
    def not_ready_because(self) -> str:
        if self.report is None:
            return "the replica has not reported yet"
        return "; ".join(self.report.pending[:2]) or "the model's workers are not READY"

    def refresh(self) -> None:
        """Read the report again if it changed since the last look."""
        if self.status_file is None:
            return
        try:
            stat = self.status_file.stat()
            if (stat.st_mtime_ns, stat.st_size) == self._seen:
                return
            report = read(self.status_file)
        except (OSError, ValueError) as exc:
            if str(exc) != self._trouble:  # once per kind of trouble, not once per request
                logger.info("no report from the replica's reconciler at %s: %s", self.status_file, exc)
                self._trouble = str(exc)
            return
        self._trouble = None
        self._seen = (stat.st_mtime_ns, stat.st_size)
        self._show(report)

    def _show(self, report: ReplicaStatus) -> None:
        self.report = report
        served = report.models.get(self.model, ModelView())
        default = served.version(served.default)
        self.default_version = served.default if default is not None else None
        self.declared_default = served.declared_default
        self.workers = _workers(default.workers) if default else []
        self.description = default.description if default else {}
        self.versions = [
            {"version": v.version, "default": v.version == served.default, "workers": _workers(v.workers)}
            for v in served.versions
        ]
        candidate = served.version(served.canary.version) if served.canary else None
        self.canary = served.canary if candidate is not None and candidate.ready else None
        self.gauges.show(self.default_version, self.versions, report)
        if self.default_version is not None:
            reference = self.description.get("reference", {})
            show_reference(self.model, self.default_version, reference, self.labels)

    def current_version(self) -> str:
        """The default version as the replica last reported it."""
        self.refresh()
        if self.default_version is None:
            raise ApiError(503, "model_unavailable", "no model is being served yet", RETRY_AFTER)
        return self.default_version

    @property
    def labels(self) -> tuple[str, ...]:
        """The games the default version answers with, as its handler describes them (its archive's own
        labels, which a model trained on another games table differs in); the gateway's table
        (inference.labels) while no description names any."""
        served = tuple(
            str(entry["label"]) for entry in self.description.get("labels", []) if "label" in entry
        )
        return served or LABELS

    def served_labels(self) -> tuple[str, ...]:
        """``labels`` as the replica last reported them (the report read again if it changed)."""
        self.refresh()
        return self.labels

    @property
    def preprocessing_version(self) -> str:
        return str(self.description.get("preprocessing_version", "unknown"))

    @property
    def digest(self) -> str:
        """The default version's archive digest, as its handler reported it."""
        return str(self.description.get("model", {}).get("digest", "unknown"))

    def view(self) -> dict[str, Any]:
        """The public, read-only view of the snapshot (``GET /api/v1/models``)."""
        description = self.description
        return {
            "models": [
                {
                    "name": self.model,
                    "default_version": self.default_version,
                    "declared_default_version": self.declared_default,
                    "digest": description.get("model", {}).get("digest"),
                    "versions": self.versions,
                }
            ],
            "labels": description.get("labels", []),
            "provenance": description.get("provenance", {}),
            "unknown_threshold": description.get("unknown_threshold"),
            "arch": description.get("model", {}).get("arch"),
            "model_card": description.get("model_card"),
        }

    async def run(self) -> None:
        """Refresh forever, so that the metrics follow the report without traffic. Whatever a refresh
        raises is logged and the next tried: a dead refresher would leave the metrics frozen."""
        while True:
            try:
                self.refresh()
            except Exception:
                logger.exception("model state refresh failed; trying again in %.1f s", self.refresh_seconds)
            await asyncio.sleep(self.refresh_seconds)
