"""TorchServe behind one pooled async client: tokens, timeouts, and its failures in our error shape."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from gateway.core.config import Settings
from gateway.errors import ApiError
from gateway.metrics import UPSTREAM_LATENCY

logger = logging.getLogger(__name__)
RETRY_AFTER = {"Retry-After": "5"}


class Tokens:
    """Bearer tokens from the settings, or from TorchServe's key file (re-read when it changes)."""

    def __init__(self, settings: Settings) -> None:
        self.key_file: Path | None = settings.torchserve_key_file
        self.fixed = {
            "inference": settings.torchserve_inference_token,
            "management": settings.torchserve_management_token,
        }
        self._mtime = -1.0
        self._keys: dict[str, str] = {}

    def header(self, kind: str) -> dict[str, str]:
        token = self.fixed.get(kind) or self._from_file(kind)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _from_file(self, kind: str) -> str | None:
        if self.key_file is None:
            return None
        try:
            mtime = self.key_file.stat().st_mtime
            if mtime != self._mtime:
                data = orjson.loads(self.key_file.read_bytes())
                self._keys = {k: data[k]["key"] for k in ("inference", "management") if k in data}
                self._mtime = mtime
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("cannot read TorchServe key file %s: %s", self.key_file, exc)
        return self._keys.get(kind)


class TorchServeClient:
    """One aiohttp session (one keep-alive pool) for both TorchServe APIs. aiohttp rather than httpx:
    about 2 ms less per upload here (benchmarks/upstream_clients.py, BENCHMARKS.md)."""

    def __init__(self, settings: Settings) -> None:
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=settings.upstream_connect_timeout,
            sock_read=settings.upstream_read_timeout,
        )
        self.session = aiohttp.ClientSession(
            timeout=timeout,
            connector=aiohttp.TCPConnector(limit=100),
            raise_for_status=False,
            cookie_jar=aiohttp.DummyCookieJar(),  # one session serves every user: it must keep no cookies
        )
        self.inference_url = settings.torchserve_inference_url.rstrip("/")
        self.management_url = settings.torchserve_management_url.rstrip("/")
        self.tokens = Tokens(settings)

    async def close(self) -> None:
        await self.session.close()

    async def predict(
        self, model: str, image: bytes, content_type: str, explain: bool = False
    ) -> dict[str, Any]:
        endpoint = "explanations" if explain else "predictions"
        headers = {"Content-Type": content_type, **self.tokens.header("inference")}
        url = f"{self.inference_url}/{endpoint}/{model}"
        return parse_answer(*await self._send("POST", url, endpoint, data=image, headers=headers), model)

    async def describe(self, model: str, customized: bool = False) -> list[dict[str, Any]]:
        return parse_answer(
            *await self._manage(
                f"/models/{model}", "describe", {"customized": "true"} if customized else None
            ),
            model,
        )

    async def describe_all(self, model: str) -> list[dict[str, Any]]:
        return parse_answer(*await self._manage(f"/models/{model}/all", "describe"), model)

    async def list_models(self) -> list[dict[str, Any]]:
        return parse_answer(*await self._manage("/models", "list"), "")["models"]

    async def _manage(
        self, path: str, endpoint: str, params: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        headers = self.tokens.header("management")
        return await self._send("GET", self.management_url + path, endpoint, params=params, headers=headers)

    async def _send(self, method: str, url: str, endpoint: str, **kwargs: Any) -> tuple[int, bytes]:
        """The status and the whole body: the read timeout covers the body as well as the headers."""
        started = time.perf_counter()
        try:
            async with self.session.request(method, url, **kwargs) as response:
                return response.status, await response.read()
        except TimeoutError:  # before ClientError: aiohttp's timeouts are both
            raise ApiError(
                504, "upstream_timeout", "the model server did not answer in time", RETRY_AFTER
            ) from None
        except aiohttp.ClientError as exc:
            logger.warning("TorchServe unreachable: %s", exc)
            raise ApiError(
                503,
                "model_unavailable",
                "the model server is starting or down; try again shortly",
                RETRY_AFTER,
            ) from None
        finally:
            UPSTREAM_LATENCY.labels(endpoint).observe(time.perf_counter() - started)


def parse_answer(status: int, content: bytes, model: str) -> Any:
    """TorchServe's answer as JSON, or its failure in our error shape."""
    try:
        body = orjson.loads(content) if content else None
    except orjson.JSONDecodeError:
        body = None
    if status < 400 and body is not None:
        return body
    if isinstance(body, dict) and isinstance(body.get("error"), dict) and 400 <= status < 500:
        error = body["error"]  # the handler's own verdict on this image: pass it through
        raise ApiError(status, str(error.get("code", "invalid_image")), str(error.get("message", "")))
    if status == 413:
        raise ApiError(413, "payload_too_large", "the image is larger than the model server accepts")
    if status == 404:
        raise ApiError(
            503, "model_unavailable", f"model {model!r} is not being served right now", RETRY_AFTER
        )
    if status in (400, 401, 403) and body and "Token" in str(body):
        logger.error("TorchServe refused the gateway's token: check TORCHSERVE_KEY_FILE")
        raise ApiError(503, "model_unavailable", "the model server refused the gateway", RETRY_AFTER)
    if status in (503, 507):
        raise ApiError(503, "overloaded", "the model server is busy; try again shortly", RETRY_AFTER)
    logger.warning("TorchServe answered %s: %s", status, content[:300].decode(errors="replace"))
    raise ApiError(503, "model_unavailable", "the model server failed to answer", RETRY_AFTER)
