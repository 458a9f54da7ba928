"""nginx at the edge against what one client can do to it, on loopback and bounded: slow uploads filling
the folder bodies spill to, and the answers nginx makes itself, each in the one error shape with the
security headers.

nginx alone, from the project's template, in front of a port nobody listens on: none of this reaches
the gateway (a request that gets through is answered 503 gateway_unavailable).
"""

from __future__ import annotations

import json
import os
import pwd
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from launchers.nginx import Nginx, start_nginx
from launchers.procs import free_port, wait_until
from nginx.render import EdgeSettings, default_worker_user

SECURITY_HEADERS = (
    "X-Request-ID",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Permissions-Policy",
    "Content-Security-Policy",
)


@pytest.fixture
def edge(web_root: Path, tmp_path: Path) -> Iterator[Nginx]:
    assets = web_root / "assets"  # a folder of the front end, without an index of its own
    assets.mkdir(exist_ok=True)
    assets.chmod(0o755)
    server = start_nginx(tmp_path, free_port(), web_root)  # no gateway behind it
    yield server
    server.stop()


def connect_from(address: str, port: int, timeout: float = 5) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((address, 0))
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    return sock


def exchange(
    port: int, request: bytes, address: str = "127.0.0.1"
) -> tuple[int, dict[str, list[str]], bytes]:
    """One raw request (malformed ones too) and the status, headers (every value of each) and body. The
    body is read by its Content-Length: after an early answer (a 413) nginx keeps reading what the
    client still sends for a while before it closes."""
    with connect_from(address, port) as sock:
        sock.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536) or pytest.fail(f"closed before an answer: {received!r}")
        head, _, body = received.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers: dict[str, list[str]] = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        while len(body) < int(headers["content-length"][0]):
            body += sock.recv(65536) or pytest.fail("closed before the whole body")
    return int(status_line.split()[1]), headers, body


def assert_error_answer(headers: dict[str, list[str]], body: bytes, code: str) -> None:
    """The one error shape, with the request's ID, and every security header exactly once."""
    for name in SECURITY_HEADERS:
        assert len(headers.get(name.lower(), [])) == 1, (name, headers)
    assert headers["content-type"] == ["application/json"]
    error = json.loads(body)["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["request_id"] == headers["x-request-id"][0]


NGINX_ANSWERS = [
    ("front end", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200, None),
    ("malformed request line", b"NOT HTTP AT ALL\r\n\r\n", 400, "bad_request"),
    ("malformed header", b"GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", 400, "bad_request"),
    ("internal path", b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 404, "not_found"),
    ("folder without an index", b"GET /assets/ HTTP/1.1\r\nHost: x\r\n\r\n", 404, "not_found"),
    ("method", b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405, "method_not_allowed"),
    (
        "body too large",
        b"POST /api/v1/classify HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n",
        413,
        "payload_too_large",
    ),
    ("URL too long", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
    (
        "header too large",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
        431,
        "header_too_large",
    ),
    (
        "unknown transfer encoding",
        b"POST /api/v1/classify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        501,
        "not_implemented",
    ),
    ("gateway down", b"GET /api/v1/models HTTP/1.1\r\nHost: x\r\n\r\n", 503, "gateway_unavailable"),
    ("HTTP version", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "http_version_not_supported"),
]


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"), [a[1:] for a in NGINX_ANSWERS], ids=[a[0] for a in NGINX_ANSWERS]
)
def test_every_answer_nginx_makes_itself_has_the_security_headers_and_the_error_shape(
    edge, request_bytes, status, code
):
    request = request_bytes.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
    answered, headers, body = exchange(edge.port, request)
    assert answered == status
    if code is None:
        assert all(len(headers.get(name.lower(), [])) == 1 for name in SECURITY_HEADERS), headers
    else:
        assert_error_answer(headers, body, code)
    if status == 503:
        assert headers["retry-after"] == ["5"]


def test_nginxs_own_429_keeps_the_security_headers(web_root, tmp_path):
    edge = start_nginx(tmp_path, free_port(), web_root, EdgeSettings(limit_rate=1, limit_burst=1))
    try:
        request = b"GET /api/v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        answers = [exchange(edge.port, request) for _ in range(4)]
        _, headers, body = next(a for a in answers if a[0] == 429)
        assert_error_answer(headers, body, "rate_limited")
        assert headers["retry-after"] == ["1"]
    finally:
        edge.stop()


@contextmanager
def capped_spill_folder(edge: Nginx, size_mb: int) -> Iterator[Path]:
    """The folder request bodies spill to, as a tmpfs of ``size_mb`` MB (as compose and Kubernetes cap
    it), owned by nginx's worker. Mounting needs root, which the tests run as here."""
    folder = edge.temp_root / "body"
    user = pwd.getpwnam(default_worker_user() or pwd.getpwuid(os.geteuid()).pw_name)
    options = f"size={size_mb}m,mode=0700,uid={user.pw_uid},gid={user.pw_gid}"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "fromsoft-spill-test", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


def used_mb(folder: Path) -> float:
    stats = os.statvfs(folder)
    return (stats.f_blocks - stats.f_bfree) * stats.f_frsize / 2**20


def test_an_upload_that_finds_the_spill_folder_full_gets_a_503_in_the_error_shape(edge):
    """Slow uploads park their bodies in the spill folder; once it is full, the next upload is refused
    with a 503 worth retrying, not a bare 500, and the parked one still goes through."""
    with capped_spill_folder(edge, 6) as folder:
        parked_size = 5 * 2**20
        head = "POST /api/v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nConnection: close\r\n"
        with connect_from("127.0.0.9", edge.port) as parked:
            parked.sendall(
                f"{head}Content-Length: {parked_size}\r\n\r\n".encode() + b"\0" * (parked_size - 2**20)
            )
            wait_until(lambda: used_mb(folder) >= 3.5, 10, "the parked upload's body on the tmpfs")
            other_size = 3 * 2**20
            request = f"{head}Content-Length: {other_size}\r\n\r\n".encode() + b"\0" * other_size
            status, headers, body = exchange(edge.port, request, "127.0.0.10")
            assert status == 503
            assert_error_answer(headers, body, "overloaded")
            assert headers["retry-after"] == ["5"]
            parked.sendall(b"\0" * 2**20)  # the rest: its body is complete, and goes on to the gateway
            assert parked.recv(4096).startswith(b"HTTP/1.1 503")  # ...which is down here
        assert "No space left on device" in (edge.prefix / "error.log").read_text()
