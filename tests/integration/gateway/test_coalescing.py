"""Repeats in flight served once (gateway.coalesce): requests for an image whose model call is still at
TorchServe wait for that call, through nginx, a one-worker gateway (coalescing is per worker), real
Redis and the real TorchServe. Where a test needs the call to last long enough to act while it is in
flight, or to fail on demand, a stand-in holds each request a moment before passing it on to the real
TorchServe (or answering 500): a slow or failing model server that the real one cannot be asked to be."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.common.images import distinct
from launchers.gateway import WRITE_BEHIND_WAIT, gateway_env, start_gateway
from launchers.nginx import start_nginx
from launchers.procs import LoopbackServer, free_port, wait_until
from launchers.torchserve import TorchServe
from tests.support.handler_log import handler_lines

HELD_SECONDS = 1.5  # how long the stand-in holds a call: room to send the repeats while it is in flight


class HeldModelServer:
    """TorchServe's inference API behind a pause, counting the calls that reach it; ``failing``: each
    call is answered 500 after the pause instead of passed on."""

    def __init__(self, torchserve: TorchServe) -> None:
        self.calls = 0
        self.failing = False
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with server._lock:
                    server.calls += 1
                time.sleep(HELD_SECONDS)
                if server.failing:
                    self._send(500, b"the worker died", "text/plain")
                    return
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
                }
                answer = httpx.post(
                    torchserve.inference_url + self.path, content=body, headers=headers, timeout=60
                )
                self._send(
                    answer.status_code, answer.content, answer.headers.get("Content-Type", "text/plain")
                )

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"

    def wait_for_calls(self, count: int) -> None:
        wait_until(lambda: self.calls >= count, 30, f"{count} calls at the model server")


@pytest.fixture
def held(torchserve: TorchServe) -> Iterator[HeldModelServer]:
    server = HeldModelServer(torchserve)
    yield server
    server.http.shutdown()


def one_worker(
    torchserve: TorchServe, redis_url: str, workdir: Path, web_root: Path, inference_url: str | None = None
) -> tuple[LoopbackServer, LoopbackServer]:
    """A one-worker gateway (``inference_url``: the model server it calls, TorchServe's by default) and
    nginx in front of it."""
    env = gateway_env(torchserve, redis_url, RATE_LIMIT="100000/minute")
    if inference_url is not None:
        env["TORCHSERVE_INFERENCE_URL"] = inference_url
    gateway = start_gateway(workdir, env, workers=1)
    try:
        return gateway, start_nginx(workdir, gateway.port, web_root)
    except BaseException:
        gateway.stop()
        raise


@pytest.fixture
def stack(torchserve, redis_server, web_root, tmp_path) -> Iterator[tuple[LoopbackServer, LoopbackServer]]:
    """A one-worker gateway over the real TorchServe, and nginx in front of it."""
    gateway, edge = one_worker(torchserve, redis_server.url, tmp_path, web_root)
    yield gateway, edge
    edge.stop()
    gateway.stop()


@pytest.fixture
def held_stack(torchserve, redis_server, web_root, held, tmp_path) -> Iterator[LoopbackServer]:
    """nginx and a one-worker gateway over the held model server."""
    gateway, edge = one_worker(torchserve, redis_server.url, tmp_path, web_root, held.url)
    yield edge
    edge.stop()
    gateway.stop()


def new_image(frames: list[bytes]) -> bytes:
    """A frame no other test has sent: a miss in the cache."""
    return distinct(frames[0], secrets.randbits(62))


async def classify_all(base: str, images: list[bytes]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        sends = (
            client.post("/api/v1/classify", files={"file": ("s.jpg", image, "image/jpeg")})
            for image in images
        )
        return list(await asyncio.gather(*sends))


def same_answer(bodies: list[dict[str, Any]]) -> None:
    """Every body gives the first's answer, and exactly one made the call (``cached`` false)."""
    kept = ("label", "name", "confidence", "top_k", "model", "sha256")
    assert all({k: body[k] for k in kept} == {k: bodies[0][k] for k in kept} for body in bodies), bodies
    assert sorted(body["cached"] for body in bodies) == [False] + [True] * (len(bodies) - 1), bodies


def coalesced(gateway_url: str) -> float:
    metrics = httpx.get(f"{gateway_url}/metrics", timeout=10).text
    values = [
        line.split()[-1]
        for line in metrics.splitlines()
        if line.startswith("gateway_coalesced_requests_total")
    ]
    return float(values[0]) if values else 0.0


def test_concurrent_requests_for_one_new_image_reach_torchserve_once_and_all_get_its_answer(
    stack, torchserve, frames
):
    gateway, edge = stack
    answers = asyncio.run(classify_all(edge.url, [new_image(frames)] * 8))
    assert [response.status_code for response in answers] == [200] * 8, [r.text for r in answers]
    same_answer([response.json() for response in answers])
    ids = [response.headers["X-Request-ID"] for response in answers]
    wait_until(lambda: any(handler_lines(torchserve, i) for i in ids), 10, "the handler's log line")
    time.sleep(0.5)  # any further call's line
    calls = [line for request_id in ids for line in handler_lines(torchserve, request_id)]
    assert len(calls) == 1, calls  # the handler logs the X-Request-ID of the one request that called it
    assert coalesced(gateway.url) >= 1  # the rest waited for that call (or, arriving after, hit the cache)


def test_a_batch_sends_its_copies_once_and_waits_for_a_file_another_request_has_in_flight(
    held_stack, held, torchserve, frames
):
    first, second = new_image(frames), distinct(frames[1], secrets.randbits(62))

    async def single_then_batch() -> tuple[httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(base_url=held_stack.url, timeout=60) as client:
            single = asyncio.create_task(
                client.post("/api/v1/classify", files={"file": ("a.jpg", first, "image/jpeg")})
            )
            await asyncio.to_thread(held.wait_for_calls, 1)  # the single's call is at the model server
            files = [
                ("files", (f"{i}.jpg", image, "image/jpeg")) for i, image in enumerate([first, second, first])
            ]
            batch = await client.post("/api/v1/classify/batch", files=files)
            return await single, batch

    single, batch = asyncio.run(single_then_batch())
    assert single.status_code == batch.status_code == 200, (single.text, batch.text)
    one, two, three = batch.json()["results"]
    same_answer([single.json(), one, three])
    assert two["cached"] is False
    assert two["sha256"] != one["sha256"]
    assert held.calls == 2  # the single's, and the batch's for the one file nobody was asking for
    wait_until(lambda: handler_lines(torchserve, batch.headers["X-Request-ID"]), 10, "the batch's log line")
    [line] = handler_lines(torchserve, batch.headers["X-Request-ID"])
    assert line["images"] == 1, line


def test_a_client_leaving_mid_call_leaves_the_requests_waiting_for_it_answered(held_stack, held, frames):
    image = new_image(frames)

    async def leave_then_wait() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=held_stack.url, timeout=60) as leaving:
            first = asyncio.create_task(
                leaving.post("/api/v1/classify", files={"file": ("s.jpg", image, "image/jpeg")})
            )
            await asyncio.to_thread(held.wait_for_calls, 1)
            waiters = asyncio.create_task(classify_all(held_stack.url, [image] * 3))
            await asyncio.sleep(HELD_SECONDS / 3)  # the waiters are in, the call still held
            first.cancel()  # the first client goes away: its connection closes
        return await waiters

    answers = asyncio.run(leave_then_wait())
    assert [response.status_code for response in answers] == [200] * 3, [r.text for r in answers]
    bodies = [response.json() for response in answers]
    assert all(body["cached"] for body in bodies), bodies  # none made a call of its own
    assert held.calls == 1
    time.sleep(WRITE_BEHIND_WAIT)
    [again] = asyncio.run(classify_all(held_stack.url, [image]))
    assert again.json()["cached"] is True
    assert held.calls == 1


def test_a_model_server_failure_reaches_every_waiter_as_the_same_json_error(held_stack, held, frames):
    held.failing = True
    image = new_image(frames)
    answers = asyncio.run(classify_all(held_stack.url, [image] * 4))
    errors = [response.json()["error"] for response in answers]
    assert [response.status_code for response in answers] == [503] * 4, errors
    assert {(error["code"], error["message"]) for error in errors} == {
        ("model_unavailable", "the model server failed to answer")
    }
    assert [error["request_id"] for error in errors] == [r.headers["X-Request-ID"] for r in answers]
    assert held.calls == 1
    asyncio.run(classify_all(held_stack.url, [image]))
    assert held.calls == 2  # a failure is never kept: the next request asks again


def test_the_models_refusal_of_an_image_reaches_every_waiter_as_the_same_json_error(held_stack, held, frames):
    cut = distinct(frames[2][: len(frames[2]) // 3], secrets.randbits(62))  # its header reads well
    answers = asyncio.run(classify_all(held_stack.url, [cut] * 4))
    [status] = {response.status_code for response in answers}
    assert 400 <= status < 500, [r.text for r in answers]
    assert {response.json()["error"]["code"] for response in answers} == {"invalid_image"}
    assert held.calls == 1


def test_with_redis_away_repeats_in_flight_are_still_served_once(
    torchserve, held, web_root, frames, tmp_path
):
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens: the cache fails open
    gateway, edge = one_worker(torchserve, nowhere, tmp_path, web_root, held.url)
    try:
        answers = asyncio.run(classify_all(edge.url, [new_image(frames)] * 4))
        assert [response.status_code for response in answers] == [200] * 4, [r.text for r in answers]
        same_answer([response.json() for response in answers])
        assert held.calls == 1
    finally:
        edge.stop()
        gateway.stop()


def test_concurrent_explanations_of_one_image_make_one_call_and_share_its_answer(held_stack, held, frames):
    image = new_image(frames)

    async def explain_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=held_stack.url, timeout=60) as client:
            sends = (
                client.post("/api/v1/explain", files={"file": ("s.jpg", image, "image/jpeg")})
                for _ in range(3)
            )
            return list(await asyncio.gather(*sends))

    answers = asyncio.run(explain_all())
    assert [response.status_code for response in answers] == [200] * 3, [r.text for r in answers]
    bodies = [response.json() for response in answers]
    assert all(body["heatmap"] == bodies[0]["heatmap"] for body in bodies)
    assert sorted(body["cached"] for body in bodies) == [False, True, True]
    assert held.calls == 1
