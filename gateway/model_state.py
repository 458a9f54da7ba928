"""What TorchServe serves right now: the default version, whether its workers are ready, and the
handler's own description (labels, preprocessing version, provenance). Refreshed every few seconds, so
``set-default`` on a new version changes cache keys within that time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.errors import ApiError
from gateway.upstream import RETRY_AFTER, TorchServeClient

logger = logging.getLogger(__name__)


@dataclass
class ModelState:
    client: TorchServeClient
    model: str
    refresh_seconds: float
    default_version: str | None = None
    workers: list[dict[str, Any]] = field(default_factory=list)
    description: dict[str, Any] = field(default_factory=dict)
    refreshed_at: float = 0.0

    @property
    def ready(self) -> bool:
        return bool(self.workers) and all(w.get("status") == "READY" for w in self.workers)

    async def refresh(self) -> None:
        described = (await self.client.describe(self.model))[0]
        version = str(described["modelVersion"])
        self.workers = described.get("workers", [])
        if version != self.default_version or not self.description:
            self.description = await self._custom_description()
        self.default_version = version
        self.refreshed_at = time.monotonic()

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
        """The default version, refreshing inline when none is known yet (e.g. TorchServe was starting)."""
        if self.default_version is None or time.monotonic() - self.refreshed_at > 4 * self.refresh_seconds:
            await self.refresh()
        if self.default_version is None:
            raise ApiError(503, "model_unavailable", "no model is being served yet", RETRY_AFTER)
        return self.default_version

    @property
    def preprocessing_version(self) -> str:
        return str(self.description.get("preprocessing_version", "unknown"))

    async def run(self) -> None:
        while True:
            with contextlib.suppress(ApiError):
                await self.refresh()
            await asyncio.sleep(self.refresh_seconds)
