"""The gateway's upstream connections against small loopback servers that misbehave on purpose (TorchServe
cannot be made to drop a kept-alive connection, stall or answer in chunks on demand; the real one is
covered by tests/integration/gateway)."""

from __future__ import annotations

import asyncio
import hashlib
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
import uvloop

from gateway.http_pool import HttpPool


@dataclass(frozen=True)
class Asked:
    connection: int  # which connection, counted from 1
    nth: int  # which request on it, counted from 1


Reply = Callable[[Asked, asyncio.StreamWriter], Awaitable[bool]]
OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok": 200}'


class Upstream:
    """Reads requests on every connection and lets ``reply`` answer them; ``reply`` returns False to
    hang up. ``connections`` counts connections made, ``heads`` keeps every request head."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self.heads: list[bytes] = []
        self.bodies: list[bytes] = []

    async def __aenter__(self) -> Upstream:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection, self.open = self.connections, self.open + 1
        self.most_open = max(self.most_open, self.open)
        try:
            for nth in range(1, 100):
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                body = await reader.readexactly(length)
                self.heads.append(head)
                self.bodies.append(body)
                if not await self.reply(Asked(connection, nth), writer):
                    break
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            writer.close()


async def always_ok(asked: Asked, writer: asyncio.StreamWriter) -> bool:
    writer.write(OK)
    return True


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Callable[[Callable[[], Awaitable[object]]], object]:
    """Each scenario on asyncio's own loop and on uvloop, the loop the gateway runs on."""
    runner = asyncio.run if request.param == "asyncio" else uvloop.run
    return lambda scenario: runner(scenario())


def test_requests_share_one_kept_alive_connection_and_carry_their_head_and_body(run):
    async def scenario() -> tuple[list[tuple[int, bytes]], Upstream]:
        async with Upstream(always_ok) as upstream:
            pool = HttpPool(upstream.url, 1, 1)
            answers = [
                await pool.request(
                    "POST", "/predictions/m", [b"image-", b"bytes"], {"Content-Type": "image/png"}
                ),
                await pool.request("GET", "/models/m?customized=true"),
            ]
            await pool.close()
        return [(a.status, a.body) for a in answers], upstream

    answers, upstream = run(scenario)
    assert answers == [(200, b'{"ok": 200}')] * 2
    assert upstream.connections == 1
    first = upstream.heads[0].decode()
    assert first.startswith("POST /predictions/m HTTP/1.1\r\n")
    assert f"Host: {upstream.url.removeprefix('http://')}\r\n" in first
    assert "Content-Type: image/png\r\n" in first
    assert upstream.bodies[0] == b"image-bytes"
    assert upstream.heads[1].decode().startswith("GET /models/m?customized=true HTTP/1.1\r\n")


def test_a_chunked_answer_is_joined_and_an_error_status_passes_through(run):
    async def chunked(asked: Asked, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 507 Insufficient Storage\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(b'5\r\n{"a":\r\n3\r\n 1}\r\n0\r\n\r\n')
        return True

    async def scenario() -> tuple[int, bytes]:
        async with Upstream(chunked) as upstream:
            pool = HttpPool(upstream.url, 1, 1)
            answer = await pool.request("GET", "/")
            await pool.close()
        return answer.status, answer.body

    assert run(scenario) == (507, b'{"a": 1}')


def test_connection_close_from_the_server_means_a_new_connection_next_time(run):
    async def closing(asked: Asked, writer: asyncio.StreamWriter) -> bool:
        writer.write(OK.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1))
        return False

    async def scenario() -> int:
        async with Upstream(closing) as upstream:
            pool = HttpPool(upstream.url, 1, 1)
            for _ in range(3):
                assert (await pool.request("GET", "/")).status == 200
            await pool.close()
        return upstream.connections

    assert run(scenario) == 3


def test_a_kept_alive_connection_dropped_before_answering_is_replaced_once(run):
    async def drops_second(asked: Asked, writer: asyncio.StreamWriter) -> bool:
        if asked.nth == 2:  # read the request, then hang up as a server closing an idle connection might
            return False
        writer.write(OK)
        return True

    async def scenario() -> tuple[int, int]:
        async with Upstream(drops_second) as upstream:
            pool = HttpPool(upstream.url, 1, 1)
            await pool.request("GET", "/")
            status = (await pool.request("GET", "/")).status  # connection 1 drops it, connection 2 answers
            await pool.close()
        return status, upstream.connections

    assert run(scenario) == (200, 2)


def test_a_new_connection_that_hangs_up_is_an_error_not_a_retry_loop(run):
    async def hangs_up(asked: Asked, writer: asyncio.StreamWriter) -> bool:
        return False

    async def scenario() -> int:
        async with Upstream(hangs_up) as upstream:
            pool = HttpPool(upstream.url, 1, 1)
            with pytest.raises(ConnectionError):
                await pool.request("GET", "/")
        return upstream.connections

    assert run(scenario) == 1


def test_an_upstream_that_never_answers_times_out_and_its_connection_is_dropped(run):
    async def silent_first(asked: Asked, writer: asyncio.StreamWriter) -> bool:
        if asked.connection == 1:
            await asyncio.sleep(5)
        writer.write(OK)
        return True

    async def scenario() -> tuple[float, int, int]:
        async with Upstream(silent_first) as upstream:
            pool = HttpPool(upstream.url, 1, 0.2)
            started = time.perf_counter()
            with pytest.raises(TimeoutError):
                await pool.request("GET", "/")
            waited = time.perf_counter() - started
            status = (await pool.request("GET", "/")).status
            await pool.close()
        return waited, status, upstream.connections

    waited, status, connections = run(scenario)
    assert 0.15 <= waited < 1  # libuv timers may fire a millisecond early: the point is not 5 s
    assert (status, connections) == (200, 2)


def test_a_closed_port_is_a_connection_error(run):
    async def scenario() -> None:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        with pytest.raises(ConnectionError):
            await HttpPool(f"http://127.0.0.1:{port}", 1, 1).request("GET", "/")

    run(scenario)


def test_a_garbled_answer_is_a_connection_error(run):
    async def garbled(asked: Asked, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"SMTP ready\r\n\r\n")
        return True

    async def scenario() -> None:
        async with Upstream(garbled) as upstream:
            with pytest.raises(ConnectionError):
                await HttpPool(upstream.url, 1, 1).request("GET", "/")

    run(scenario)


def test_no_more_connections_than_the_limit_however_many_requests_wait(run):
    async def slow(asked: Asked, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.05)
        writer.write(OK)
        return True

    async def scenario() -> tuple[int, int]:
        async with Upstream(slow) as upstream:
            pool = HttpPool(upstream.url, 1, 5, limit=2)
            answers = await asyncio.gather(*(pool.request("GET", "/") for _ in range(6)))
            await pool.close()
        assert all(a.status == 200 for a in answers)
        return upstream.most_open, upstream.connections

    assert run(scenario) == (2, 2)


def test_a_header_value_with_a_line_break_is_refused_before_anything_is_sent(run):
    with pytest.raises(ValueError, match="line break"):
        run(lambda: HttpPool("http://127.0.0.1:9", 1, 1).request("GET", "/", headers={"X": "a\r\nB: c"}))


def test_only_plain_http_urls_are_accepted():
    with pytest.raises(ValueError, match="http://"):
        HttpPool("https://torchserve:8080", 1, 1)


def test_bytes_after_an_answer_never_reach_the_next_request(run):
    async def answers_twice(asked: Asked, writer: asyncio.StreamWriter) -> bool:
        if asked.connection == 1:  # one answer, then the start of another nobody asked for
            writer.write(OK + b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nSEC")
        else:
            writer.write(OK)
        return True

    async def scenario() -> tuple[bytes, bytes, int]:
        async with Upstream(answers_twice) as upstream:
            pool = HttpPool(upstream.url, 1, 1)
            first = await pool.request("GET", "/")
            second = await pool.request("GET", "/")
            await pool.close()
        return first.body, second.body, upstream.connections

    assert run(scenario) == (b'{"ok": 200}', b'{"ok": 200}', 2)


def test_a_connection_idle_past_the_keepalive_is_not_reused(run):
    async def scenario() -> int:
        async with Upstream(always_ok) as upstream:
            pool = HttpPool(upstream.url, 1, 1, keepalive=0.05)
            await pool.request("GET", "/")
            await pool.request("GET", "/")  # at once: the same connection
            await asyncio.sleep(0.1)
            await pool.request("GET", "/")  # after the keep-alive: a new one
            await pool.close()
        return upstream.connections

    assert run(scenario) == 2


def test_a_body_in_parts_arrives_whole_and_is_never_copied_whole_on_the_way(run):
    """16 MB in four parts (a batch's images) to an upstream that reads slowly: the pool writes slices as
    the socket takes them, so the gateway holds the parts and at most a slice or two more, where joining
    them (and asyncio copying what the socket had not taken) held two or three times the body."""
    parts = [bytearray(hashlib.sha256(bytes([n])).digest() * (4 * 2**20 // 32)) for n in range(4)]
    received = hashlib.sha256()

    async def slow_reader(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        left = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        while left:
            chunk = await reader.read(min(left, 65536))
            received.update(chunk)
            left -= len(chunk)
            await asyncio.sleep(0)
        writer.write(OK)
        await writer.drain()
        writer.close()

    async def scenario() -> tuple[int, int]:
        server = await asyncio.start_server(slow_reader, "127.0.0.1", 0)
        pool = HttpPool(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", 1, 30)
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            answer = await pool.request("POST", "/predictions/m", parts)
            peak = tracemalloc.get_traced_memory()[1] - before
        finally:
            tracemalloc.stop()
            await pool.close()
            server.close()
        return answer.status, peak

    status, peak = run(scenario)
    assert status == 200
    assert received.digest() == hashlib.sha256(b"".join(parts)).digest()
    assert peak < 2 * 2**20, f"{peak / 2**20:.1f} MB held beside a 16 MB body"


def test_an_answer_before_the_whole_body_went_ends_the_request_and_its_connection(run):
    """A server may refuse a request before reading it all (TorchServe's 413): the pool stops writing, hands
    back the answer, and never reuses a connection whose stream is out of step."""

    async def refuses_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)  # keeps the connection open, reading nothing more
        writer.close()

    async def scenario() -> tuple[int, int]:
        server = await asyncio.start_server(refuses_at_once, "127.0.0.1", 0)
        pool = HttpPool(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", 1, 5)
        try:
            answer = await pool.request("POST", "/predictions/m", [bytearray(32 * 2**20)])
            idle = len(pool.idle)
        finally:
            await pool.close()
            server.close()
        return answer.status, idle

    assert run(scenario) == (413, 0)
