"""TorchServe over kept-alive connections (gateway.http_pool): tokens, timeouts, and its failures in our
error shape."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from gateway.core.config import Settings
from gateway.errors import ApiError
from gateway.http_pool import HttpPool
from gateway.metrics import UPSTREAM_LATENCY
from gateway.request_context import current

logger = logging.getLogger(__name__)
RETRY_AFTER = {"Retry-After": "5"}
KINDS = ("inference", "management")  # the keys TorchServe's key file holds for its two APIs


class Tokens:
    """Bearer tokens from the settings, or from TorchServe's key file (re-read when it changes), and
    when the file says each key expires (a metric: gateway.metrics.KeyExpiry)."""

    def __init__(self, settings: Settings) -> None:
        self.key_file: Path | None = settings.torchserve_key_file
        self.fixed = {
            "inference": settings.torchserve_inference_token,
            "management": settings.torchserve_management_token,
        }
        self._mtime = -1.0
        self._keys: dict[str, str] = {}
        self._expiries: dict[str, float] = {}

    def header(self, kind: str) -> dict[str, str]:
        token = self.fixed.get(kind) or self._from_file(kind)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def renewed(self, kind: str) -> bool:
        """Whether the key file now holds another ``kind`` key than the one last read: TorchServe renewed
        it (handler.token_keeper) between our reading it and TorchServe checking it."""
        if self.fixed.get(kind) or self.key_file is None:
            return False
        before = self._keys.get(kind)
        return self._from_file(kind, force=True) not in (None, before)

    def expiries(self) -> dict[str, float]:
        """Unix time at which each key in the key file expires (none without a key file)."""
        self._from_file("inference")
        return dict(self._expiries)

    def _from_file(self, kind: str, force: bool = False) -> str | None:
        if self.key_file is None:
            return None
        try:
            mtime = self.key_file.stat().st_mtime
            if force or mtime != self._mtime:
                data = orjson.loads(self.key_file.read_bytes())
                self._keys = {k: data[k]["key"] for k in KINDS if k in data}
                self._expiries = {
                    k: datetime.fromisoformat(data[k]["expiration time"]).timestamp()
                    for k in KINDS
                    if "expiration time" in data.get(k, {})
                }
                self._mtime = mtime
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("cannot read TorchServe key file %s: %s", self.key_file, exc)
        return self._keys.get(kind)


class TorchServeClient:
    """Keep-alive connections to both TorchServe APIs (gateway.http_pool), with the tokens, the timeouts
    and TorchServe's failures in our error shape. No cookies are kept: nothing travels between users."""

    def __init__(self, settings: Settings) -> None:
        timeouts = (settings.upstream_connect_timeout, settings.upstream_read_timeout)
        self.inference = HttpPool(settings.torchserve_inference_url, *timeouts)
        self.management = HttpPool(settings.torchserve_management_url, *timeouts)
        self.tokens = Tokens(settings)

    async def close(self) -> None:
        await self.inference.close()
        await self.management.close()

    async def predict(
        self, model: str, image: bytes | bytearray, content_type: str, explain: bool = False
    ) -> dict[str, Any]:
        """The handler's answer; the request being served lends the call its X-Request-ID, which the
        handler logs (TorchServe passes every header of a request to the handler)."""
        endpoint = "explanations" if explain else "predictions"
        path = f"/{endpoint}/{quote(model, safe='')}"
        headers = {"Content-Type": content_type}
        if (context := current()) is not None:
            headers["X-Request-ID"] = context.request_id
        answer = await self._authorized(self.inference, "POST", path, endpoint, image, headers)
        return parse_answer(*answer, model)

    async def describe(self, model: str, customized: bool = False) -> list[dict[str, Any]]:
        query = "?customized=true" if customized else ""
        return parse_answer(*await self._manage(f"/models/{quote(model, safe='')}{query}", "describe"), model)

    async def describe_all(self, model: str) -> list[dict[str, Any]]:
        return parse_answer(*await self._manage(f"/models/{quote(model, safe='')}/all", "describe"), model)

    async def _manage(self, path: str, endpoint: str) -> tuple[int, bytes]:
        return await self._authorized(self.management, "GET", path, endpoint)

    async def _authorized(
        self,
        pool: HttpPool,
        method: str,
        path: str,
        endpoint: str,
        body: bytes | bytearray = b"",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """The call with the current key for ``pool``'s API; asked again, once, with the new key when
        TorchServe refused one it had just replaced."""
        kind = "inference" if pool is self.inference else "management"
        headers = headers or {}
        status, content = await self._send(
            pool, method, path, endpoint, body, {**headers, **self.tokens.header(kind)}
        )
        if refused_token(status, content) and self.tokens.renewed(kind):
            status, content = await self._send(
                pool, method, path, endpoint, body, {**headers, **self.tokens.header(kind)}
            )
        return status, content

    async def _send(
        self,
        pool: HttpPool,
        method: str,
        path: str,
        endpoint: str,
        body: bytes | bytearray,
        headers: dict[str, str],
    ) -> tuple[int, bytes]:
        """The status and the whole body: the read timeout covers the body as well as the headers."""
        started = time.perf_counter()
        try:
            answer = await pool.request(method, path, body, headers)
        except TimeoutError:  # before OSError: TimeoutError is one
            raise ApiError(
                504, "upstream_timeout", "the model server did not answer in time", RETRY_AFTER
            ) from None
        except OSError as exc:
            logger.warning("TorchServe unreachable: %s", exc)
            raise ApiError(
                503,
                "model_unavailable",
                "the model server is starting or down; try again shortly",
                RETRY_AFTER,
            ) from None
        finally:
            UPSTREAM_LATENCY.labels(endpoint).observe(time.perf_counter() - started)
        return answer.status, answer.body


def refused_token(status: int, content: bytes) -> bool:
    """TorchServe's answer to a missing, wrong or expired key (400, with its InvalidKeyException)."""
    return status in (400, 401, 403) and b"Token Authorization failed" in content


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
    if refused_token(status, content):
        logger.error("TorchServe refused the gateway's token: check TORCHSERVE_KEY_FILE")
        raise ApiError(503, "model_unavailable", "the model server refused the gateway", RETRY_AFTER)
    if status in (503, 507):
        raise ApiError(503, "overloaded", "the model server is busy; try again shortly", RETRY_AFTER)
    logger.warning("TorchServe answered %s: %s", status, content[:300].decode(errors="replace"))
    raise ApiError(503, "model_unavailable", "the model server failed to answer", RETRY_AFTER)
