"""Keep-alive HTTP/1.1 connections to one upstream (TorchServe), on asyncio with httptools' parser.

aiohttp did the same job with about 0.4 ms more of every miss on our 2-core machine, a fifth of the
gateway's 2 ms budget (docs/performance-log.md, Gateway: cache hits, misses and overhead): its request
and response objects, URL and header machinery and connector serve a general client, and the gateway
needs one thing: send a request it built itself to a fixed internal host and take back the status and
the whole body. httptools is the
parser uvicorn serves the gateway with.

A body goes out as the parts it is made of (a multi-image request's images and the framing between
them), each written in slices as the socket takes them: never joined into one buffer, nor copied whole
into the transport's, so that a batch is held about once, in the parts the gateway parsed (1.3 bytes
per byte of body for six full batches, where joining them held 2.2-2.4: docs/performance-log.md,
Memory of a batch).

Failures come out as the built-in exceptions: ``TimeoutError`` when the connection or the answer takes
too long, ``ConnectionError`` (or another ``OSError``) when the upstream is unreachable or hangs up.
Answers must be framed by Content-Length or chunked encoding, as TorchServe's are; one that ends only
when the connection closes counts as a hang-up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

Body = Sequence[bytes | bytearray | memoryview]  # a request's body, in the parts it is made of
SLICE = 256 * 1024  # written at a time: asyncio copies what the socket does not take at once


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


class _Connection(asyncio.Protocol):
    """One connection, one request at a time; reusable until either side ends it."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Answer] | None = None
        self.body: list[bytes] = []
        self.reusable = True
        self.answered = False  # any byte of an answer to the current request
        self.idle_since = 0.0
        self.writable = asyncio.Event()  # the transport's buffer is under its high-water mark
        self.writable.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a TCP connection: always a Transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self.writable.set()  # a body being written stops at the failed answer
        self._fail(ConnectionResetError("the model server closed the connection before answering"))

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():  # nothing was asked: the stream is out of step
            self.close()
            return
        self.answered = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.close()
            self._fail(ConnectionError(f"the model server's answer is not HTTP: {exc}"))

    # httptools callbacks
    def on_message_begin(self) -> None:
        if self.waiter is None or self.waiter.done():  # a second answer to one request: out of step
            self.close()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if not self.parser.should_keep_alive():
            self.reusable = False
        answer = Answer(self.parser.get_status_code(), b"".join(self.body))
        self.body = []
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(answer)

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    async def send(self, head: bytes, body: Body) -> Answer:
        assert self.transport is not None
        waiter = self.waiter = asyncio.get_running_loop().create_future()
        self.answered = False
        self.transport.write(head)
        for part in body:
            view = memoryview(part).cast("B")
            for start in range(0, view.nbytes, SLICE):
                if not self.writable.is_set():
                    await self._writable_or_answered(waiter)
                if waiter.done():  # answered (or failed) before the whole body went: out of step
                    self.reusable = False
                    return await waiter
                self.transport.write(view[start : start + SLICE])
        return await waiter

    async def _writable_or_answered(self, waiter: asyncio.Future[Answer]) -> None:
        writable = asyncio.ensure_future(self.writable.wait())
        try:
            await asyncio.wait((writable, waiter), return_when=asyncio.FIRST_COMPLETED)
        finally:
            writable.cancel()

    def can_take_another(self) -> bool:
        """Still open, and the whole request went out (a server may answer before reading all of it)."""
        return self.reusable and self.transport is not None and not self.transport.get_write_buffer_size()

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)


class HttpPool:
    """Up to ``limit`` keep-alive connections to the host and port of ``base_url`` (plain http: the
    model server is on loopback or an internal network). A connection idle for ``keepalive`` seconds
    is not reused: a peer or a middlebox may have dropped it without a word."""

    def __init__(
        self,
        base_url: str,
        connect_timeout: float,
        read_timeout: float,
        limit: int = 100,
        keepalive: float = 15.0,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"expected an http:// URL with a host, got {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive = keepalive
        self.slots = asyncio.Semaphore(limit)
        self.idle: list[_Connection] = []
        self.host_header = f"Host: {parts.netloc.rpartition('@')[2]}\r\n"  # never credentials

    async def request(
        self, method: str, path: str, body: Body = (), headers: dict[str, str] | None = None
    ) -> Answer:
        """``path`` below the base URL, query string included. The read timeout covers the whole answer.
        A kept-alive connection found closed before any answer came is replaced by another, as browsers
        do: the request did not reach the model, or reaches it again, and asking a classifier twice is
        harmless."""
        head = self._head(method, path, headers or {}, sum(memoryview(part).nbytes for part in body))
        async with self.slots:
            while True:
                connection, reused = await self._checkout()
                try:
                    async with asyncio.timeout(self.read_timeout):
                        answer = await connection.send(head, body)
                except ConnectionError:
                    connection.close()
                    if reused and not connection.answered:
                        continue  # a stale connection; a new one is never retried
                    raise
                except BaseException:  # a timeout or a cancelled request: never reuse a half-read stream
                    connection.close()
                    raise
                if connection.can_take_another():
                    connection.idle_since = time.monotonic()
                    self.idle.append(connection)
                else:  # the server ended it, or answered before reading the whole request
                    connection.close()
                return answer

    async def close(self) -> None:
        while self.idle:
            self.idle.pop().close()

    async def _checkout(self) -> tuple[_Connection, bool]:
        fresh_since = time.monotonic() - self.keepalive
        while self.idle:
            connection = self.idle.pop()
            if connection.reusable and connection.idle_since >= fresh_since:
                return connection, True
            connection.close()
        async with asyncio.timeout(self.connect_timeout):
            _, connection = await asyncio.get_running_loop().create_connection(
                _Connection, self.host, self.port
            )
        return connection, False

    def _head(self, method: str, path: str, headers: dict[str, str], length: int) -> bytes:
        lines = [f"{method} {self.prefix}{path} HTTP/1.1\r\n", self.host_header]
        for name, value in headers.items():
            if "\r" in value or "\n" in value:
                raise ValueError(f"header {name} carries a line break")
            lines.append(f"{name}: {value}\r\n")
        lines.append(f"Content-Length: {length}\r\n\r\n")
        return "".join(lines).encode("latin-1")
