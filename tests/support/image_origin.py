"""A real HTTP(S) server on a loopback address, standing for the sites clients name images by: each path
does one thing the URL fetch must cope with (an image, a redirect, a status, a slow or endless or
oversized body), and the server records what reached it: the path, the Host header, the TLS server name
(SNI) and the bytes it managed to send. Threads, so that a stalled answer holds only its own."""

from __future__ import annotations

import contextlib
import itertools
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Behaviour = Callable[["_Handler"], None]


@dataclass(frozen=True)
class Hit:
    path: str
    host: str | None
    sni: str | None


class ImageOrigin:
    def __init__(self, host: str, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Behaviour] = {}
        self.hits: list[Hit] = []
        self.sent: dict[str, int] = {}  # body bytes each path managed to send
        self.stopping = threading.Event()
        self._snis: dict[int, str | None] = {}
        self.server = ThreadingHTTPServer((host, 0), _Handler)
        self.server.origin = self  # type: ignore[attr-defined]
        self.scheme = "http"
        if tls is not None:
            tls.sni_callback = self._note_sni  # type: ignore[assignment]  # an SSLSocket's, as wrapped below
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.host, self.port = host, self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> ImageOrigin:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str, host: str | None = None) -> str:
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"

    def paths(self) -> list[str]:
        return [hit.path for hit in self.hits]

    def _note_sni(self, sock: ssl.SSLSocket, name: str | None, _: ssl.SSLContext) -> None:
        self._snis[id(sock)] = name


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_: object) -> None:  # quiet: tests read ``hits``
        pass

    @property
    def origin(self) -> ImageOrigin:
        return self.server.origin  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        sni = self.origin._snis.get(id(self.connection))
        self.origin.hits.append(Hit(self.path, self.headers.get("Host"), sni))
        behaviour = self.origin.routes.get(self.path)
        if behaviour is None:
            self.answer(404, b"not here", "text/plain")
            return
        # The fetch hanging up is what the endless and slow answers wait for.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError):
            behaviour(self)

    def answer(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.origin.sent[self.path] = len(body)


def image(data: bytes, content_type: str = "image/jpeg") -> Behaviour:
    return lambda handler: handler.answer(200, data, content_type)


def redirect(location: str, status: int = 302) -> Behaviour:
    return lambda handler: handler.answer(status, b"", "text/plain", {"Location": location})


def status(code: int) -> Behaviour:
    return lambda handler: handler.answer(code, b"nothing", "text/plain")


def declared(size: int, then_wait: float = 30.0) -> Behaviour:
    """Headers that declare ``size`` bytes, then nothing for ``then_wait`` s."""

    def behave(handler: _Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        handler.send_header("Content-Length", str(size))
        handler.end_headers()
        handler.wfile.flush()
        handler.origin.stopping.wait(then_wait)

    return behave


def trickle(data: bytes, every: float, chunk: int = 1) -> Behaviour:
    """``data`` declared whole, then sent ``chunk`` bytes every ``every`` s: each read is quick, the whole
    is slow."""

    def behave(handler: _Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        sent = 0
        while sent < len(data) and not handler.origin.stopping.wait(every):
            handler.wfile.write(data[sent : sent + chunk])
            handler.wfile.flush()
            sent += chunk
            handler.origin.sent[handler.path] = sent

    return behave


def endless(prefix: bytes, seconds: float = 30.0) -> Behaviour:
    """``prefix``, then zeros in chunked encoding as fast as they are taken, for up to ``seconds``."""

    def behave(handler: _Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        block = b"\0" * 65536
        sent, ends = 0, time.monotonic() + seconds
        for piece in itertools.chain([prefix], itertools.repeat(block)):
            if time.monotonic() > ends or handler.origin.stopping.is_set():
                break
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            sent += len(piece)
            handler.origin.sent[handler.path] = sent

    return behave
