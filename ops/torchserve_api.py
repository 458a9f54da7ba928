"""TorchServe's management API, as the reconciler uses it: what is served, and the calls that change it.
The management key is read from TorchServe's key file on every call, so a renewal never strands a
client; every path is built from quoted segments (ops.names.path)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from ops import torchserve_keys
from ops.names import path


class ManagementError(RuntimeError):
    """TorchServe refused or failed a management call."""

    def __init__(self, method: str, url: str, status: int, text: str) -> None:
        super().__init__(f"{method} {url}: {status} {text.strip()[:300]}")
        self.status = status


class ManagementClient:
    def __init__(self, url: str, key_file: Path | None, timeout: float = 180.0) -> None:
        self.key_file = key_file
        self.http = httpx.Client(base_url=url, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def _headers(self) -> dict[str, str]:
        if self.key_file is None or not self.key_file.is_file():
            return {}
        return {"Authorization": f"Bearer {torchserve_keys.key(self.key_file, 'management')}"}

    def _call(self, method: str, target: str, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        response = self.http.request(method, target, params=query, headers=self._headers())
        if response.is_error:
            raise ManagementError(method, target, response.status_code, response.text)
        return response.json()

    def models(self) -> list[str]:
        """Every registered model's name (TorchServe answers in pages)."""
        names: list[str] = []
        token: str | None = None
        while True:
            page = self._call("GET", "/models", limit=100, next_page_token=token)
            names += [str(m["modelName"]) for m in page.get("models", [])]
            token = page.get("nextPageToken")
            if not token:
                return names

    def default(self, name: str) -> list[dict[str, Any]]:
        """The default version's description, with its workers."""
        described: list[dict[str, Any]] = self._call("GET", path("models", name))
        return described

    def describe_all(self, name: str) -> list[dict[str, Any]]:
        described: list[dict[str, Any]] = self._call("GET", path("models", name, "all"))
        return described

    def describe_custom(self, name: str, version: str) -> dict[str, Any]:
        """The handler's own description of a version (its worker answers it)."""
        described = self._call("GET", path("models", name, version), customized="true")
        return described[0] if isinstance(described, list) and described else {}

    def register(
        self,
        archive: str,
        workers: int,
        batch_size: int | None = None,
        max_batch_delay: int | None = None,
    ) -> Any:
        """``archive``: a file name in the model store (config.properties' allowed_urls refuses the rest);
        ``batch_size`` and ``max_batch_delay`` (ms) override the archive's own model config."""
        return self._call(
            "POST",
            "/models",
            url=archive,
            initial_workers=workers,
            synchronous="true",
            batch_size=batch_size,
            max_batch_delay=max_batch_delay,
        )

    def set_default(self, name: str, version: str) -> Any:
        return self._call("PUT", path("models", name, version, "set-default"))

    def scale(self, name: str, version: str, workers: int) -> Any:
        return self._call(
            "PUT", path("models", name, version), min_worker=workers, max_worker=workers, synchronous="true"
        )

    def unregister(self, name: str, version: str) -> Any:
        return self._call("DELETE", path("models", name, version))
