"""The stack's public API as the CLI uses it: its limits (``GET /api/v1/models``), its batch endpoint
(``POST /api/v1/classify/batch``) and feedback (``POST /api/v1/feedback``), with the waits a polite
client keeps.

A 429 or a 503 carries Retry-After: every request of this client then waits that long, not only the one
refused (the budget is the client's, not the request's), and the batch is sent again. The wait is at most
MAX_WAIT, whatever the header asks (a server, or anything between, could otherwise park the run for
hours), and a cut wait is said on standard error. A connection that fails is tried again after a growing
pause. A batch the API refuses whole for another reason fails its files with the API's own words, as does
a 429 ``cost_exceeds_limit`` (a batch that costs more than the client's limit ever allows, which no wait
would let through), a 429 ``quota_exhausted`` (an API key's daily quota is spent: its wait is hours,
not a minute) and an answer that does not give one result per file sent (it could not be matched to
the files).

With an API key (``--api-key`` or FSL_API_KEY) every request carries it as ``X-API-Key``: the key's
limits apply instead of the address's, and the server's limits view packs batches by its burst.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx

from client.files import Found
from client.records import say
from inference.formats import COST_EXCEEDS_LIMIT, QUOTA_EXHAUSTED

RETRIED = (429, 503)
NEVER_RETRIED = (COST_EXCEEDS_LIMIT, QUOTA_EXHAUSTED)  # 429s no wait of this client's would get through
DEFAULT_WAIT = 5.0  # seconds, when a 429 or 503 says nothing
# seconds: the rate limit's window is a minute (RATE_LIMIT 10/minute), so the stack itself never needs a
# client to wait longer
MAX_WAIT = 60.0


@dataclass(frozen=True)
class Limits:
    max_upload_bytes: int
    batch_max_files: int
    batch_max_bytes: int


class RefusedError(Exception):
    """The API refused a request (a whole batch, a vote): ``code`` and ``message`` from its error body."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Lens:
    def __init__(self, base: str, client: httpx.AsyncClient, attempts: int = 10) -> None:
        self.base = base.rstrip("/")
        self.client = client
        self.attempts = attempts
        self._not_before = 0.0  # monotonic time before which no request goes out

    async def limits(self) -> Limits:
        view = (await self._send("GET", "/api/v1/models")).json()
        return Limits(view["max_upload_bytes"], view["batch_max_files"], view["batch_max_bytes"])

    async def classify(self, batch: list[tuple[Found, bytes]], top_k: int) -> list[dict[str, Any]]:
        """Each file's answer or refusal, in the order of ``batch`` (each file with its bytes)."""
        files = [("files", (item.path.name, data, item.content_type)) for item, data in batch]
        params = {"top_k": top_k, "count": len(batch)}  # admitted or refused before the upload
        response = await self._send("POST", "/api/v1/classify/batch", params=params, files=files)
        try:
            results = response.json()["results"]
        except (ValueError, KeyError, TypeError):
            raise RefusedError("bad_answer", "the server's answer holds no results") from None
        if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
            raise RefusedError("bad_answer", "the server's results are not a list of answers")
        if len(results) != len(batch):
            raise RefusedError(
                "bad_answer", f"the server gave {len(results)} results for {len(batch)} files sent"
            )
        return results

    async def feedback(
        self, data: bytes, content_type: str, sha256: str, verdict: str, label: str | None, share: bool
    ) -> dict[str, Any]:
        """One vote on the image ``data``, sent with it (the API takes no hash alone), kept by the
        service only when ``share``: the vote as recorded (``updated`` when it replaced an earlier one)."""
        fields: dict[str, Any] = {
            "sha256": (None, sha256),
            "verdict": (None, verdict),
            "share": (None, "true" if share else "false"),
            "file": ("image", data, content_type),
        }
        if label is not None:
            fields["label"] = (None, label)
        response = await self._send("POST", "/api/v1/feedback", files=fields)
        try:
            recorded = response.json()["feedback"]
        except (ValueError, KeyError, TypeError):
            raise RefusedError("bad_answer", "the server's answer holds no feedback") from None
        if not isinstance(recorded, dict):
            raise RefusedError("bad_answer", "the server's feedback is not a vote")
        return recorded

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(self.attempts):
            await asyncio.sleep(max(0.0, self._not_before - time.monotonic()))
            try:
                response = await self.client.request(method, self.base + path, **kwargs)
            except httpx.TransportError as exc:
                if attempt == self.attempts - 1:
                    raise RefusedError("unreachable", f"{self.base}: {exc}") from None
                self._wait(min(2.0**attempt, 30.0))
                continue
            retried = response.status_code in RETRIED and _error(response).get("code") not in NEVER_RETRIED
            if retried and attempt < self.attempts - 1:
                self._wait(_retry_after(response))
                continue
            if response.status_code >= 400:
                error = _error(response)
                raise RefusedError(
                    error.get("code", f"http_{response.status_code}"), error.get("message", "")
                )
            return response
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _wait(self, seconds: float) -> None:
        self._not_before = max(self._not_before, time.monotonic() + seconds)


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("retry-after", "")
    asked = float(value) if value.isascii() and value.isdigit() else DEFAULT_WAIT
    if asked > MAX_WAIT:
        say(f"the server asks to wait {value} s; waiting {MAX_WAIT:.0f} s, the most this client waits")
    return min(asked, MAX_WAIT)


def _error(response: httpx.Response) -> dict[str, str]:
    try:
        error = response.json().get("error", {})
    except ValueError:
        return {}
    return error if isinstance(error, dict) else {}
