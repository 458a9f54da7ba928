"""The public API under the traffic a public service gets: classifications and explanations from many
clients at once (TorchServe batches them together), clients over their limits, more requests than a
worker holds, costly requests, IPv6 clients, and an upstream answer of the wrong shape."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from gateway.config import Settings
from inference import replica_status
from inference.replica_status import ModelView, ReplicaStatus, VersionView, Worker
from launchers.gateway import WRITE_BEHIND_WAIT, gateway_env, start_gateway
from launchers.procs import LoopbackServer
from launchers.redis import RedisServer
from launchers.torchserve import TorchServe


def upload(image: bytes) -> dict[str, tuple[str, bytes, str]]:
    return {"file": ("shot.jpg", image, "image/jpeg")}


@pytest.fixture(scope="module")
def busy_gateway(
    torchserve: TorchServe, redis_server: RedisServer, tmp_path_factory
) -> Iterator[LoopbackServer]:
    """Two workers, limits out of the way: the traffic itself is under test."""
    env = gateway_env(torchserve, redis_server.url, RATE_LIMIT="100000/minute", MAX_IN_FLIGHT="64")
    server = start_gateway(tmp_path_factory.mktemp("busy-gateway"), env, workers=2)
    yield server
    server.stop()


def handler_calls(torchserve: TorchServe) -> int:
    """How many batches the handler has answered (one HandlerTime line per ``handle`` call)."""
    log = torchserve.workdir / "logs" / "model_metrics.log"
    return log.read_text().count("HandlerTime") if log.is_file() else 0


def test_classifications_and_explanations_interleaved_under_load_each_get_their_own_answer(
    busy_gateway, torchserve, synthetic_data
):
    images = [p.read_bytes() for p in sorted((synthetic_data / "FromSoftwareImages").rglob("*.jpg"))[:240]]
    batches_before = handler_calls(torchserve)

    async def send(
        client: httpx.AsyncClient, gate: asyncio.Semaphore, index: int
    ) -> tuple[str, httpx.Response]:
        kind = "explain" if index % 2 else "classify"
        async with gate:
            return kind, await client.post(f"/api/v1/{kind}", files=upload(images[index]))

    async def load() -> list[tuple[str, httpx.Response]]:
        gate = asyncio.Semaphore(16)
        async with httpx.AsyncClient(base_url=busy_gateway.url, timeout=120) as client:
            return await asyncio.gather(*(send(client, gate, i) for i in range(len(images))))

    answers = asyncio.run(load())
    statuses = Counter(response.status_code for _, response in answers)
    assert statuses == {200: len(images)}, statuses
    for kind, response in answers:
        body = response.json()
        if kind == "classify":
            assert len(body["top_k"]) == 3, body
            assert "heatmap" not in body
        else:
            assert len(body["heatmap"]) == body["rows"] == 9, body
            assert "top_k" not in body
    # The handler answered fewer batches than requests: TorchServe did batch them, mixed kinds and all.
    assert handler_calls(torchserve) - batches_before < len(images)


def test_as_many_of_the_largest_uploads_as_a_unit_lets_in_are_all_answered(
    torchserve, redis_server, tmp_path
):
    """One gateway worker with its default cap lets MAX_IN_FLIGHT uploads of nearly MAX_UPLOAD_BYTES reach
    TorchServe at once; its Java front end's heap (config.properties, vmargs) must hold them all."""
    env = gateway_env(torchserve, redis_server.url, RATE_LIMIT="100000/minute")
    gateway = start_gateway(tmp_path, env, workers=1)
    noise = np.random.default_rng(0).integers(0, 256, (1150, 1400, 3), dtype=np.uint8)
    uploads = []
    for n in range(Settings().max_in_flight):
        noise[0, 0, 0] = n  # distinct bytes: every one a cache miss
        buffer = io.BytesIO()
        Image.fromarray(noise).save(buffer, "PNG", compress_level=0)
        uploads.append(buffer.getvalue())
    assert len(uploads[0]) > 0.85 * Settings().max_upload_bytes

    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=120) as client:
            sends = (
                client.post("/api/v1/classify", files={"file": ("big.png", u, "image/png")}) for u in uploads
            )
            return await asyncio.gather(*sends)

    try:
        statuses = Counter(response.status_code for response in asyncio.run(send_all()))
    finally:
        gateway.stop()
    assert statuses == {200: len(uploads)}, statuses


def test_an_explanation_is_cached_and_costs_several_requests(torchserve, redis_server, frames, tmp_path):
    redis_server.client().flushall()
    env = gateway_env(torchserve, redis_server.url, RATE_LIMIT="12/minute", EXPLAIN_COST="5")
    gateway = start_gateway(tmp_path, env)
    try:
        first = httpx.post(f"{gateway.url}/api/v1/explain", files=upload(frames[5]), timeout=60)
        assert first.status_code == 200, first.text
        assert first.json()["cached"] is False
        time.sleep(WRITE_BEHIND_WAIT)
        again = httpx.post(f"{gateway.url}/api/v1/explain", files=upload(frames[5]), timeout=60)
        assert again.json()["cached"] is True
        assert again.json()["heatmap"] == first.json()["heatmap"]
        assert again.json()["model"]["version"] == "1.0"
        # 10 of 12 units spent: two classifications pass, the third is refused.
        statuses = [
            httpx.post(f"{gateway.url}/api/v1/classify", files=upload(frames[6]), timeout=60).status_code
            for _ in range(3)
        ]
        assert statuses == [200, 200, 429]
    finally:
        gateway.stop()


def read_answer(sock: socket.socket) -> bytes:
    """One whole answer (head and Content-Length body) as the server sent it."""
    answer = b""
    while b"\r\n\r\n" not in answer and (chunk := sock.recv(65536)):
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length and (chunk := sock.recv(65536)):
        body += chunk
    return head + b"\r\n\r\n" + body


def test_a_client_over_its_limit_gets_429_before_sending_its_body(torchserve, redis_server, frames, tmp_path):
    redis_server.client().flushall()
    gateway = start_gateway(tmp_path, gateway_env(torchserve, redis_server.url, RATE_LIMIT="1/minute"))
    try:
        assert (
            httpx.post(f"{gateway.url}/api/v1/classify", files=upload(frames[7]), timeout=60).status_code
            == 200
        )
        # Expect: 100-continue: the server asks for the body only when the application reads it.
        head = (
            "POST /api/v1/classify HTTP/1.1\r\nHost: gateway\r\nContent-Type: image/jpeg\r\n"
            "Content-Length: 5000000\r\nExpect: 100-continue\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
            sock.sendall(head.encode())
            answer = read_answer(sock)
        assert answer.startswith(b"HTTP/1.1 429"), answer[:200]
        assert b"100 Continue" not in answer
        assert b'"rate_limited"' in answer
    finally:
        gateway.stop()


def test_past_the_in_flight_cap_a_request_gets_503_at_once(torchserve, redis_server, frames, tmp_path):
    redis_server.client().flushall()
    env = gateway_env(torchserve, redis_server.url, RATE_LIMIT="100/minute", MAX_IN_FLIGHT="1")
    gateway = start_gateway(tmp_path, env)
    try:
        # One upload admitted and still streaming in holds the only slot.
        holder = socket.create_connection(("127.0.0.1", gateway.port), timeout=10)
        head = (
            "POST /api/v1/classify HTTP/1.1\r\nHost: gateway\r\nContent-Type: image/jpeg\r\n"
            f"Content-Length: {len(frames[8])}\r\n\r\n"
        )
        holder.sendall(head.encode() + frames[8][:1000])
        time.sleep(0.5)
        started = time.perf_counter()
        busy = httpx.post(f"{gateway.url}/api/v1/classify", files=upload(frames[9]), timeout=10)
        elapsed = time.perf_counter() - started
        assert busy.status_code == 503, busy.text
        assert busy.json()["error"]["code"] == "overloaded"
        assert busy.headers["Retry-After"] == "1"
        assert elapsed < 2.0
        assert httpx.get(f"{gateway.url}/readyz").status_code == 200  # probes are never capped
        holder.sendall(frames[8][1000:])
        finished = read_answer(holder)
        assert finished.startswith(b"HTTP/1.1 200"), finished[:200]
        holder.close()
        assert (
            httpx.post(f"{gateway.url}/api/v1/classify", files=upload(frames[9]), timeout=60).status_code
            == 200
        )
    finally:
        gateway.stop()


def test_ipv6_clients_share_a_bucket_per_64_and_ipv4_clients_one_per_address(
    torchserve, redis_server, frames, tmp_path
):
    redis_server.client().flushall()
    gateway = start_gateway(tmp_path, gateway_env(torchserve, redis_server.url, RATE_LIMIT="2/minute"))

    def status(forwarded_for: str) -> int:
        response = httpx.post(
            f"{gateway.url}/api/v1/classify",
            files=upload(frames[10]),
            headers={"X-Forwarded-For": forwarded_for},  # the test client is a trusted proxy (loopback)
            timeout=60,
        )
        return response.status_code

    try:
        same_prefix = [status(f"2001:db8:0:7::{i}") for i in (1, 2, 3)]
        assert same_prefix == [200, 200, 429]  # rotating inside one /64 buys nothing
        assert status("2001:db8:0:8::1") == 200  # the next /64 is another client
        assert [status("198.51.100.20"), status("198.51.100.21")] == [200, 200]
        assert status("::ffff:198.51.100.20") == 200  # the same host as 198.51.100.20: its second
        assert status("198.51.100.20") == 429
    finally:
        gateway.stop()


def test_the_models_view_comes_from_the_replica_report_and_is_rate_limited(
    torchserve, redis_server, tmp_path
):
    """The gateway holds the inference key alone and never calls the management API."""
    redis_server.client().flushall()
    env = gateway_env(torchserve, redis_server.url, RATE_LIMIT="5/minute", MODEL_REFRESH_SECONDS="60")
    assert set(json.loads(Path(env["TORCHSERVE_KEY_FILE"]).read_text())) == {"inference"}
    gateway = start_gateway(tmp_path, env)
    try:
        views = [httpx.get(f"{gateway.url}/api/v1/models") for _ in range(6)]
        assert [v.status_code for v in views] == [200] * 5 + [429]
        endpoints = {
            line.split('endpoint="')[1].split('"')[0]
            for line in httpx.get(f"{gateway.url}/metrics").text.splitlines()
            if line.startswith("gateway_upstream_request_duration_seconds_count{")
        }
        assert endpoints <= {"predictions", "explanations"}
        view = views[0].json()
        assert view["models"][0]["name"] == "fromsoft"
        assert view["models"][0]["default_version"] == "1.0"
        assert view["models"][0]["declared_default_version"] == "1.0"
        assert view["models"][0]["digest"] == torchserve.status().models["fromsoft"].version("1.0").digest
        assert view["models"][0]["versions"][0]["workers"][0]["status"] == "READY"
        assert view["max_upload_bytes"] == 5 * 1024 * 1024
        assert [label["label"] for label in view["labels"]][:1] == ["bloodborne"]
    finally:
        gateway.stop()


class WrongShapes(BaseHTTPRequestHandler):
    """A TorchServe stand-in that answers every prediction with JSON of the wrong shape: a fault the real
    server cannot be asked to produce."""

    predictions = 0

    def log_message(self, *args: object) -> None:
        pass

    def _json(self, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).predictions += 1
        if self.path.startswith("/explanations"):
            self._json({"label": "sekiro", "heatmap": [[0.5] * 16] * 3, "rows": 9, "cols": 16})
        else:
            self._json({"label": "sekiro", "probabilities": "all of them"})


def test_an_upstream_answer_of_the_wrong_shape_is_a_502_and_never_cached(redis_server, frames, tmp_path):
    redis_server.client().flushall()
    fake = ThreadingHTTPServer(("127.0.0.1", 0), WrongShapes)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{fake.server_address[1]}"
    served = VersionView(version="1.0", archive="fromsoft.mar", workers=[Worker(status="READY")])
    report = ReplicaStatus(
        replica="fake", ready=True, models={"fromsoft": ModelView(default="1.0", versions=[served])}
    )
    replica_status.write(report, tmp_path / "fake.json")  # what a reconciler would say of the stand-in
    env = {
        "TORCHSERVE_INFERENCE_URL": url,
        "REPLICA_STATUS_FILE": str(tmp_path / "fake.json"),
        "REDIS_URL": redis_server.url,
        "RATE_LIMIT": "100/minute",
    }
    gateway = start_gateway(tmp_path, env)
    try:
        for kind in ("classify", "explain", "classify"):
            response = httpx.post(f"{gateway.url}/api/v1/{kind}", files=upload(frames[11]), timeout=30)
            assert response.status_code == 502, response.text
            assert response.json()["error"]["code"] == "bad_upstream_answer"
            time.sleep(WRITE_BEHIND_WAIT)
        assert WrongShapes.predictions == 3  # asked every time: nothing was cached
        assert not redis_server.client().keys("fromsoft:answer:*")
        assert "Traceback" not in (tmp_path / f"gateway-{gateway.port}.log").read_text()  # a 502, not a crash
    finally:
        gateway.stop()
        fake.shutdown()
