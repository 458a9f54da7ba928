"""nginx at the edge against what one client can do to it, on loopback and bounded: a flood of stalled
half-sent headers (slowloris), slow uploads filling the folder bodies spill to, and the answers nginx
makes itself, each in the one error shape with the security headers.

nginx alone, from the project's template, in front of a port nobody listens on: none of this reaches
the gateway (a request that gets through is answered 503 gateway_unavailable).
"""

from __future__ import annotations

import json
import os
import pwd
import resource
import selectors
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from launchers.nginx import Nginx, start_nginx
from launchers.procs import free_port, wait_until
from nginx.render import EdgeSettings, default_worker_user

FLOOD = 1100  # more connections than the old single worker had (1024)
CUT_OFF = 15  # seconds by which every stalled connection must be gone (client_header_timeout is 10 s)
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
    """The one error shape, with the request's ID, every security header exactly once, and kept by no
    cache."""
    for name in SECURITY_HEADERS:
        assert len(headers.get(name.lower(), [])) == 1, (name, headers)
    assert headers["cache-control"] == ["no-store"]
    assert headers["content-type"] == ["application/json"]
    error = json.loads(body)["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["request_id"] == headers["x-request-id"][0]


@contextmanager
def stalled_headers(address: str, port: int, count: int) -> Iterator[list[socket.socket]]:
    """``count`` connections from ``address`` that each send part of a request header, then nothing."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 200:
        assert hard >= count + 200, f"the test needs {count + 200} open files; the hard limit is {hard}"
        resource.setrlimit(resource.RLIMIT_NOFILE, (count + 200, hard))
    with ExitStack() as stack:
        sockets = []
        for _ in range(count):
            sock = stack.enter_context(connect_from(address, port))
            sock.sendall(b"GET / HTTP/1.1\r\nHost: fromsoft\r\nX-Slow: ")
            sockets.append(sock)
        yield sockets


def closed_by_the_server(sockets: list[socket.socket], deadline: float) -> tuple[int, int]:
    """How many of ``sockets`` the server closed before ``deadline`` (monotonic), and how many of those
    it reset rather than closed politely."""
    selector = selectors.DefaultSelector()
    for sock in sockets:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    closed = reset = 0
    while closed < len(sockets) and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=max(0.0, min(0.5, deadline - time.monotonic()))):
            selector.unregister(key.fileobj)
            closed += 1
            try:
                key.fileobj.recv(1)  # type: ignore[union-attr]
            except ConnectionResetError:
                reset += 1
    selector.close()
    return closed, reset


def test_a_slowloris_flood_from_one_address_leaves_the_site_to_others_and_is_cut_off(edge):
    with stalled_headers("127.0.0.5", edge.port, FLOOD) as flood:
        opened = time.monotonic()
        with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.6"), timeout=2) as other:
            for _ in range(5):  # another visitor is still served, at once
                assert other.get(f"{edge.url}/").status_code == 200
        # The flooding address holds its connections for the header timeout, not a minute: every one is
        # reset (reset_timedout_connection), freeing its socket and buffers at once.
        closed, reset = closed_by_the_server(flood, opened + CUT_OFF)
        assert (closed, reset) == (FLOOD, FLOOD)
    assert "worker_connections are not enough" not in (edge.prefix / "error.log").read_text()


def test_one_address_has_at_most_edge_limit_conn_requests_in_progress(web_root, tmp_path):
    limit = 4
    edge = start_nginx(tmp_path, free_port(), web_root, EdgeSettings(limit_conn=limit))
    upload = b"POST /api/v1/classify HTTP/1.1\r\nHost: fromsoft\r\nContent-Type: image/png\r\n"
    upload += b"Content-Length: 1048576\r\n\r\n" + b"\x89PNG\r\n\x1a\n"  # then the body stalls
    try:
        with ExitStack() as stack:
            uploads = [stack.enter_context(connect_from("127.0.0.7", edge.port, 1)) for _ in range(limit + 3)]
            answered = []
            for sock in uploads:
                sock.sendall(upload)
                time.sleep(0.05)  # in order: the first ``limit`` are in progress when the others arrive
            for sock in uploads:
                try:
                    answered.append(sock.recv(4096).split(b"\r\n", 1)[0])
                except TimeoutError:
                    answered.append(b"still sending its body")
            assert answered == [b"still sending its body"] * limit + [b"HTTP/1.1 429 Too Many Requests"] * 3
            status, _, _ = exchange(
                edge.port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "127.0.0.8"
            )
            assert status == 200  # another address is not affected
    finally:
        edge.stop()


def test_an_ipv6_client_is_limited_by_its_64_and_an_ipv4_one_by_its_address(web_root, tmp_path):
    """Behind a trusted proxy (127.0.0.1 here) the client is the one X-Forwarded-For names."""
    settings = EdgeSettings(trusted_proxies=("127.0.0.1/32",), limit_rate=1, limit_burst=1)
    edge = start_nginx(tmp_path, free_port(), web_root, settings)

    def status(client: str) -> int:
        request = f"GET /api/v1/models HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: {client}\r\n"
        return exchange(edge.port, f"{request}Connection: close\r\n\r\n".encode())[0]

    try:
        # Two requests at once per client (rate 1 and burst 1); beyond them, a 429.
        assert [status(c) for c in ("2001:db8:1:2::a", "2001:db8:1:2::b", "2001:db8:1:2:ffff::1")] == [
            503,
            503,
            429,
        ]
        assert status("2001:db8:1:3::a") == 503  # the next /64 is another client
        assert [status(c) for c in ("203.0.113.1", "203.0.113.1", "203.0.113.1", "203.0.113.2")] == [
            503,
            503,
            429,
            503,
        ]
    finally:
        edge.stop()


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
        assert "cache-control" not in headers  # the front end's files keep nginx's own caching (ETag)
        assert headers["etag"]
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
