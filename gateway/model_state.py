"""What TorchServe serves right now, as a snapshot every gateway worker keeps: the default version, every
version's workers, and the handler's own description (labels, preprocessing version, provenance).
Refreshed every few seconds, so ``set-default`` on a new version changes cache keys within that time,
and ``GET /api/v1/models`` answers from it without a management-API call per request."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.errors import ApiError
from gateway.metrics import ModelGauges
from gateway.upstream import RETRY_AFTER, TorchServeClient

logger = logging.getLogger(__name__)


def _workers(described: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"id": w.get("id"), "status": w.get("status")} for w in described.get("workers", [])]


@dataclass
class ModelState:
    client: TorchServeClient
    model: str
    refresh_seconds: float
    default_version: str | None = None
    workers: list[dict[str, Any]] = field(default_factory=list)  # the default version's
    versions: list[dict[str, Any]] = field(default_factory=list)  # every version, with its workers
    description: dict[str, Any] = field(default_factory=dict)
    refreshed_at: float = 0.0
    gauges: ModelGauges = field(init=False)  # the snapshot as metrics

    def __post_init__(self) -> None:
        self.gauges = ModelGauges(self.model)

    @property
    def ready(self) -> bool:
        return bool(self.workers) and all(w.get("status") == "READY" for w in self.workers)

    async def refresh(self) -> None:
        default, every = await asyncio.gather(
            self.client.describe(self.model), self.client.describe_all(self.model)
        )
        version = str(default[0]["modelVersion"])
        self.workers = _workers(default[0])
        self.versions = [
            {
                "version": str(v["modelVersion"]),
                "default": str(v["modelVersion"]) == version,
                "workers": _workers(v),
            }
            for v in every
        ]
        if version != self.default_version or not self.description:
            self.description = await self._custom_description()
        self.default_version = version
        self.refreshed_at = time.monotonic()
        self.gauges.show(version, self.versions)

    async def _custom_description(self) -> dict[str, Any]:
        try:
            described = (await self.client.describe(self.model, customized=True))[0]
        except ApiError:
            return {}
        raw = described.get("customizedMetadata")
        while isinstance(raw, str | bytes):  # TorchServe hands the handler's JSON back as a string
            try:
                raw = orjson.loads(raw)
            except orjson.JSONDecodeError:
                return {}
        return raw[0] if isinstance(raw, list) and raw else raw if isinstance(raw, dict) else {}

    async def current_version(self) -> str:
        """The default version, refreshing inline when none is known yet (e.g. TorchServe was starting)
        or the refresher has fallen behind."""
        if self.default_version is None or time.monotonic() - self.refreshed_at > 4 * self.refresh_seconds:
            await self.refresh()
        if self.default_version is None:
            raise ApiError(503, "model_unavailable", "no model is being served yet", RETRY_AFTER)
        return self.default_version

    @property
    def preprocessing_version(self) -> str:
        return str(self.description.get("preprocessing_version", "unknown"))

    def view(self) -> dict[str, Any]:
        """The public, read-only view of the snapshot (``GET /api/v1/models``)."""
        description = self.description
        return {
            "models": [
                {"name": self.model, "default_version": self.default_version, "versions": self.versions}
            ],
            "labels": description.get("labels", []),
            "provenance": description.get("provenance", {}),
            "unknown_threshold": description.get("unknown_threshold"),
            "arch": description.get("model", {}).get("arch"),
        }

    async def run(self) -> None:
        """Refresh forever. Whatever a refresh raises (TorchServe away, an answer of an unexpected shape,
        a bug) is logged and the next refresh tried: a dead refresher would freeze the default version."""
        while True:
            try:
                await self.refresh()
            except ApiError as exc:
                logger.info("model state not refreshed: %s", exc.message)
                self.gauges.unreachable()
            except Exception:
                logger.exception("model state refresh failed; trying again in %.1f s", self.refresh_seconds)
                self.gauges.unreachable()
            await asyncio.sleep(self.refresh_seconds)
