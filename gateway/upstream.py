"""TorchServe's inference API over kept-alive connections (gateway.http_pool): its key, timeouts, and
its failures in our error shape. The gateway holds the inference key alone, from the file the replica's
reconciler writes for it; it never calls the management API (its view of the model comes from the
reconciler's report: gateway.model_state)."""

from __future__ import annotations

import logging
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from gateway.config import Settings
from gateway.errors import ApiError
from gateway.http_pool import Body, HttpPool
from gateway.metrics import UPSTREAM_LATENCY
from gateway.request_context import current
from inference.multi_image import COUNT_HEADER, field

logger = logging.getLogger(__name__)
RETRY_AFTER = {"Retry-After": "5"}
KIND = "inference"  # the one key the gateway's key file holds


class Tokens:
    """The inference key from the settings, or from the key file the reconciler writes in TorchServe's
    format (re-read when it changes), and when it expires (a metric: gateway.metrics.KeyExpiry)."""

    def __init__(self, settings: Settings) -> None:
        self.key_file: Path | None = settings.torchserve_key_file
        self.fixed = settings.torchserve_inference_token
        self._mtime = -1.0
        self._key: str | None = None
        self._expiries: dict[str, float] = {}

    def header(self) -> dict[str, str]:
        token = self.fixed or self._from_file()
        return {"Authorization": f"Bearer {token}"} if token else {}

    def renewed(self) -> bool:
        """Whether the key file now holds another key than the one last read: TorchServe renewed it (the
        reconciler asked) between our reading it and TorchServe checking it."""
        if self.fixed or self.key_file is None:
            return False
        before = self._key
        return self._from_file(force=True) not in (None, before)

    def expiries(self) -> dict[str, float]:
        """Unix time at which the key in the key file expires (none without a key file)."""
        self._from_file()
        return dict(self._expiries)

    def _from_file(self, force: bool = False) -> str | None:
        if self.key_file is None:
            return None
        try:
            mtime = self.key_file.stat().st_mtime
            if force or mtime != self._mtime:
                entry = orjson.loads(self.key_file.read_bytes())[KIND]
                self._key = entry["key"]
                self._expiries = {KIND: datetime.fromisoformat(entry["expiration time"]).timestamp()}
                self._mtime = mtime
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("cannot read the gateway's key file %s: %s", self.key_file, exc)
        return self._key


class TorchServeClient:
    """Keep-alive connections to TorchServe's inference API (gateway.http_pool), with the key, the
    timeouts and TorchServe's failures in our error shape. No cookies are kept: nothing travels between
    users."""

    def __init__(self, settings: Settings) -> None:
        timeouts = (settings.upstream_connect_timeout, settings.upstream_read_timeout)
        self.inference = HttpPool(settings.torchserve_inference_url, *timeouts)
        self.tokens = Tokens(settings)

    async def close(self) -> None:
        await self.inference.close()

    async def predict(
        self,
        model: str,
        image: bytes | bytearray,
        content_type: str,
        explain: bool = False,
        version: str | None = None,
    ) -> dict[str, Any]:
        """The handler's answer, by the default version unless ``version`` is named (a canary); the
        request being served lends the call its X-Request-ID, which the handler logs (TorchServe passes
        every header of a request to the handler)."""
        endpoint = "explanations" if explain else "predictions"
        path = f"/{endpoint}/{quote(model, safe='')}" + (f"/{quote(version, safe='')}" if version else "")
        headers = {"Content-Type": content_type}
        if (context := current()) is not None:
            headers["X-Request-ID"] = context.request_id
        answer = await self._authorized("POST", path, endpoint, (image,), headers)
        return parse_answer(*answer, model)

    async def predict_many(self, model: str, images: list[tuple[bytes | bytearray, str]]) -> Any:
        """The handler's answers to several images (bytes, content type) sent in one request, as the
        list it gives (inference.multi_image); TorchServe's failure of the whole request as ``predict``'s."""
        boundary = os.urandom(16).hex()
        path = f"/predictions/{quote(model, safe='')}"
        headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            COUNT_HEADER: str(len(images)),
        }
        if (context := current()) is not None:
            headers["X-Request-ID"] = context.request_id
        answer = await self._authorized("POST", path, "predictions", multipart(images, boundary), headers)
        return parse_answer(*answer, model)

    async def _authorized(
        self,
        method: str,
        path: str,
        endpoint: str,
        body: Body = (),
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """The call with the current key; asked again, once, with the new key when TorchServe refused one
        it had just replaced."""
        headers = headers or {}
        status, content = await self._send(method, path, endpoint, body, {**headers, **self.tokens.header()})
        if refused_token(status, content) and self.tokens.renewed():
            status, content = await self._send(
                method, path, endpoint, body, {**headers, **self.tokens.header()}
            )
        return status, content

    async def _send(
        self,
        method: str,
        path: str,
        endpoint: str,
        body: Body,
        headers: dict[str, str],
    ) -> tuple[int, bytes]:
        """The status and the whole body: the read timeout covers the body as well as the headers."""
        started = time.perf_counter()
        try:
            answer = await self.inference.request(method, path, body, headers)
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


def multipart(images: list[tuple[bytes | bytearray, str]], boundary: str) -> list[bytes | bytearray]:
    """A multi-image request's body, as its parts: the images themselves between their framing, never
    copied (gateway.http_pool writes them as they are). Each part has a file name: TorchServe hands a
    part without one to the handler as text."""
    parts: list[bytes | bytearray] = []
    for index, (image, content_type) in enumerate(images):
        name = field(index)
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        )
        parts += [head.encode(), image, b"\r\n"]
    return [*parts, f"--{boundary}--\r\n".encode()]


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
