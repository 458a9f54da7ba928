"""Fetching an image by URL: each hop checked and pinned (gateway.url_guard), at most ``MAX_REDIRECTS``
redirects, ``CONNECT_SECONDS`` to connect and ``TOTAL_SECONDS`` for everything (lookups, hops, body), the
body read raw (no decompression) and cut as soon as it passes the upload limit, so that the gateway
never holds more of it than it would of an upload. What comes back is then checked as an upload is
(gateway.validation.checked_image): its magic bytes, format, pixels and decoding cost.

httpx makes the requests, one client per fetch (no connection, cookie or TLS session is shared between
clients' fetches), without proxies or the environment (``trust_env=False``), and with httpx-secure on
its connections: every socket is checked against the guard's rule as it connects, a second line behind
the pinning. A worker runs at most URL_FETCH_CONCURRENCY requests' fetches at once and answers the
next one 503 at once: a slow source holds a place for up to ``TOTAL_SECONDS``, and uploads keep the
rest of MAX_IN_FLIGHT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Iterator

import certifi
import httpx
from httpx_secure import SSRFProtectionError, httpx_ssrf_protection

from gateway.config import Settings
from gateway.errors import ApiError
from gateway.url_guard import Resolver, UrlGuard, refused
from gateway.validation import Upload, checked_image, megabytes, too_large

logger = logging.getLogger(__name__)

CONNECT_SECONDS = 3.0
TOTAL_SECONDS = 10.0
MAX_REDIRECTS = 3
REDIRECTS = frozenset({301, 302, 303, 307, 308})
HEADERS = {
    "User-Agent": "FromSoftLens-fetch/1",
    "Accept": "image/jpeg, image/png, image/webp",
    "Accept-Encoding": "identity",  # an image is compressed already; a gzip body is refused as not one
}
TIMEOUTS = {
    "connect": CONNECT_SECONDS,
    "read": TOTAL_SECONDS,
    "write": TOTAL_SECONDS,
    "pool": CONNECT_SECONDS,
}


def failed(message: str) -> ApiError:
    return ApiError(502, "url_fetch_failed", message)


def timed_out() -> ApiError:
    return ApiError(504, "url_fetch_timeout", f"the image was not fetched within {TOTAL_SECONDS:g} s")


class Budget:
    """The bytes a request's fetches may hold together: one upload's for /classify, what a batch's body
    may weigh less its files for a batch (gateway.api.routes.classify)."""

    def __init__(self, total: int) -> None:
        self.total = self.left = total

    def take(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise ApiError(
                413,
                "payload_too_large",
                f"the batch's images together are larger than {megabytes(self.total)}",
            )


class UrlFetcher:
    def __init__(self, settings: Settings) -> None:
        self.guard = UrlGuard(
            Resolver(settings.url_fetch_nameserver, CONNECT_SECONDS), settings.url_fetch_test_allow
        )
        self.max_bytes = settings.max_upload_bytes
        self.tls = ssl.create_default_context(cafile=str(settings.url_fetch_ca_file or certifi.where()))
        self.places = settings.url_fetch_concurrency
        self.fetching = 0  # requests of this worker whose fetches run now (one event loop: a plain count)

    @contextlib.contextmanager
    def place(self) -> Iterator[None]:
        """One of the worker's places for a request's fetches, or a 503 at once."""
        if self.fetching >= self.places:
            raise ApiError(
                503,
                "overloaded",
                "too many images by URL are being fetched; try again in a moment",
                {"Retry-After": "1"},
            )
        self.fetching += 1
        try:
            yield
        finally:
            self.fetching -= 1

    async def image(self, url: httpx.URL, budget: Budget, max_pixels: int) -> Upload:
        """The image at ``url`` (from ``guard.parsed``), checked as an upload is, or the ApiError that
        refuses it: 422 not allowed, 502 failed, 504 too slow, 413 too large, 415 not an image."""
        return checked_image(await self.fetch(url, budget), self.max_bytes, max_pixels)

    async def fetch(self, url: httpx.URL, budget: Budget) -> bytearray:
        """The body at ``url``, or the ApiError that refuses it."""
        try:
            async with asyncio.timeout(TOTAL_SECONDS), self._client() as client:
                for _ in range(MAX_REDIRECTS + 1):
                    hop = await self.guard.hop(url)
                    response = await client.send(hop.request(HEADERS, TIMEOUTS), stream=True)
                    try:
                        if response.status_code not in REDIRECTS:
                            return await self._body(response, budget)
                        url = self._redirect(url, response)
                    finally:
                        await response.aclose()
                raise failed(f"the server redirected more than {MAX_REDIRECTS} times")
        except (TimeoutError, httpx.TimeoutException):
            raise timed_out() from None
        except SSRFProtectionError:  # the pinning let through what the connection-time check refuses
            logger.error("httpx-secure refused a connection the URL guard allowed")
            raise refused("address") from None
        except httpx.HTTPError as exc:  # its words (addresses among them) go to the log, not the client
            logger.info("fetching an image by URL failed: %s: %s", type(exc).__name__, exc)
            raise failed("the image's server could not be reached or broke off") from None

    def _client(self) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            verify=self.tls,
            trust_env=False,
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),
        )
        return httpx_ssrf_protection(
            client,
            check_globally_reachable=not self.guard.test_allow,
            custom_validator=self.guard.may_connect,
        )

    def _redirect(self, url: httpx.URL, response: httpx.Response) -> httpx.URL:
        location = response.headers.get("location")
        if not location:
            raise failed(f"the server answered {response.status_code} without a Location")
        try:
            target = url.join(location)
        except httpx.InvalidURL:
            raise failed("the server redirected to something that is not a URL") from None
        return self.guard.parsed(str(target))

    async def _body(self, response: httpx.Response, budget: Budget) -> bytearray:
        if response.status_code != 200:
            raise failed(f"the image's server answered {response.status_code}")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise too_large(self.max_bytes)
        data = bytearray()
        async for chunk in response.aiter_raw():
            data += chunk
            if len(data) > self.max_bytes:
                raise too_large(self.max_bytes)
            budget.take(len(chunk))
        return data
