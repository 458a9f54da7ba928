"""What an operator reads, after real requests through nginx, the gateway (two workers), Redis and
TorchServe: /metrics by route template and status and the gauges of state, each series moving as it
should; one request ID in the answer, the error body and the logs of nginx, the gateway and TorchServe,
kept only from a trusted proxy; the gateway's log as JSON lines with no token and no image in them."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from launchers.gateway import WRITE_BEHIND_WAIT, gateway_env, start_gateway
from launchers.nginx import start_nginx
from launchers.procs import LoopbackServer, free_port, wait_until
from launchers.redis import RedisServer
from nginx.render import EdgeSettings

HEX_ID = re.compile(r"[0-9a-f]{32}")
ACCESS_FIELDS = frozenset(
    {"time", "level", "logger", "message", "request_id", "method", "route", "status", "latency_ms"}
    | {"cached", "model_version", "error"}
)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(gateway: LoopbackServer) -> Samples:
    text = httpx.get(f"{gateway.url}/metrics", timeout=10).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def post(url: str, kind: str, image: bytes, **kwargs) -> httpx.Response:
    files = {"file": ("shot.jpg", image, "image/jpeg")}
    return httpx.post(f"{url}/api/v1/{kind}", files=files, timeout=60, **kwargs)


def json_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def logged(path: Path, request_id: str, where: Callable[[dict], bool] = lambda line: True) -> dict:
    """The JSON line of ``path`` about ``request_id``, waited for: logs are written after the answer."""
    found: list[dict] = []

    def written() -> bool:
        found[:] = [line for line in json_lines(path) if line.get("request_id") == request_id and where(line)]
        return bool(found)

    wait_until(written, 10, f"{request_id} in {path.name}")
    return found[0]


def in_torchserve_log(torchserve, request_id: str) -> dict:
    """The handler's line about ``request_id`` in TorchServe's model log (the worker's output)."""
    found: list[dict] = []

    def written() -> bool:
        lines = torchserve.model_log.read_text().splitlines() if torchserve.model_log.exists() else []
        found[:] = [
            json.loads(line.split("MODEL_LOG - ", 1)[1])
            for line in lines
            if "MODEL_LOG - {" in line and request_id in line
        ]
        return bool(found)

    wait_until(written, 15, f"{request_id} in TorchServe's model log")
    return found[0]


def test_metrics_move_by_route_template_and_status_after_real_requests(edge, gateway, frames):
    before = scrape(gateway)
    assert post(edge.url, "classify", frames[1]).status_code == 200  # a miss
    time.sleep(WRITE_BEHIND_WAIT)
    assert post(edge.url, "classify", frames[1]).json()["cached"] is True  # a hit
    assert post(edge.url, "explain", frames[2]).status_code == 200  # a miss
    assert post(edge.url, "classify", b"plain text").status_code == 415
    assert httpx.get(f"{edge.url}/api/v1/models").status_code == 200
    assert httpx.get(f"{gateway.url}/api/v1/classify").status_code == 405
    assert httpx.get(f"{gateway.url}/.env").status_code == 404
    after = scrape(gateway)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "gateway_requests_total"
    assert moved(requests, route="/api/v1/classify", status="200") == 2
    assert moved(requests, route="/api/v1/classify", status="415") == 1
    assert moved(requests, route="/api/v1/classify", status="405") == 1
    assert moved(requests, route="/api/v1/explain", status="200") == 1
    assert moved(requests, route="/api/v1/models", status="200") == 1
    assert moved(requests, route="unmatched", status="404") == 1
    assert moved("gateway_request_duration_seconds_count", route="/api/v1/classify") == 4
    assert moved("gateway_request_duration_seconds_count", route="/api/v1/explain") == 1
    assert moved("gateway_cache_lookups_total", result="hit") == 1
    assert moved("gateway_cache_lookups_total", result="miss") == 2
    assert moved("gateway_upstream_request_duration_seconds_count", endpoint="predictions") == 1
    assert moved("gateway_upstream_request_duration_seconds_count", endpoint="explanations") == 1
    assert moved("gateway_rate_limited_total") == 0
    assert value(after, "gateway_requests_in_flight") == 0
    assert value(after, "gateway_redis_breaker_open") == 0
    assert value(after, "gateway_served_model_info", model="fromsoft", version="1.0") == 1
    assert value(after, "gateway_model_workers", model="fromsoft", version="1.0", status="READY") == 1
    assert value(after, "gateway_model_ready_workers", model="fromsoft") == 1
    expires = value(after, "gateway_torchserve_key_expiry_timestamp_seconds", kind="inference")
    assert time.time() < expires <= time.time() + 3600
    assert value(after, "gateway_declared_model_info", model="fromsoft", version="1.0") == 1
    assert value(after, "gateway_declared_state_valid") == 1
    assert value(after, "gateway_replica_converged") == 1
    assert time.time() - 30 < value(after, "gateway_reconciler_report_timestamp_seconds") <= time.time()


def test_refusals_and_the_redis_breaker_show_in_the_metrics(torchserve, frames, tmp_path):
    redis = RedisServer(tmp_path / "redis").start()
    env = gateway_env(
        torchserve, redis.url, RATE_LIMIT="2/minute", REDIS_BREAKER_FAILURES="1", REDIS_BREAKER_SECONDS="1"
    )
    gateway = start_gateway(tmp_path, env, workers=1)  # one worker: its breaker is the one /metrics shows
    try:
        before = scrape(gateway)
        assert [post(gateway.url, "classify", frames[3]).status_code for _ in range(3)] == [200, 200, 429]
        refused = scrape(gateway)
        assert value(refused, "gateway_rate_limited_total") - value(before, "gateway_rate_limited_total") == 1
        assert value(refused, "gateway_requests_total", route="/api/v1/classify", status="429") == 1
        redis.stop()
        post(gateway.url, "classify", frames[4])  # Redis refuses: the breaker opens, the cache is skipped
        opened = scrape(gateway)
        assert value(opened, "gateway_redis_breaker_open") == 1
        assert value(opened, "gateway_cache_lookups_total", result="skipped") >= 1
        redis.start()
        time.sleep(1.2)  # the cool-down: the next request probes Redis, which answers
        post(gateway.url, "classify", frames[5])
        assert value(scrape(gateway), "gateway_redis_breaker_open") == 0
    finally:
        gateway.stop()
        redis.stop()


def test_one_upload_has_one_id_in_the_answer_and_the_logs_of_nginx_the_gateway_and_torchserve(
    edge, gateway, torchserve, frames
):
    answer = post(edge.url, "classify", frames[6])
    assert answer.status_code == 200, answer.text
    request_id = answer.headers["X-Request-ID"]
    assert HEX_ID.fullmatch(request_id)  # made by nginx
    assert logged(edge.access_log, request_id)["status"] == 200
    line = logged(gateway.proc.log_path, request_id)
    assert {k: line[k] for k in ("route", "status", "cached", "model_version", "error")} == {
        "route": "/api/v1/classify",
        "status": 200,
        "cached": False,
        "model_version": "1.0",
        "error": None,
    }
    assert line["latency_ms"] > 0
    assert in_torchserve_log(torchserve, request_id)["kind"] == "classify"


@pytest.mark.parametrize(
    ("send", "status", "who"),
    [
        (lambda url: post(url, "classify", b"plain text"), 415, "the gateway"),
        (lambda url: post(url, "explain", b"\xff\xd8\xff" + b"\x00" * (6 * 1024 * 1024)), 413, "nginx"),
        (lambda url: httpx.get(f"{url}/models"), 404, "nginx"),
    ],
    ids=["gateway-415", "nginx-413", "nginx-404"],
)
def test_every_error_body_carries_the_id_of_its_header_and_its_log_line(edge, send, status, who):
    response = send(edge.url)
    assert response.status_code == status, (who, response.text)
    request_id = response.headers["X-Request-ID"]
    assert response.json()["error"]["request_id"] == request_id, who
    assert logged(edge.access_log, request_id)["status"] == status


def test_nginx_answering_for_a_gateway_that_is_down_still_gives_the_id(web_root, tmp_path):
    edge = start_nginx(tmp_path, free_port(), web_root)  # nothing listens there
    try:
        response = httpx.get(f"{edge.url}/api/v1/models")
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert response.json()["error"]["request_id"] == response.headers["X-Request-ID"]
    finally:
        edge.stop()


def test_an_id_a_client_sends_is_replaced_unless_a_trusted_proxy_sent_it(
    gateway, torchserve, web_root, frames, tmp_path
):
    # The module's edge trusts no proxy: whatever a client calls its request is replaced.
    behind_lb = start_nginx(tmp_path, gateway.port, web_root, EdgeSettings(trusted_proxies=("127.0.0.1/32",)))
    try:
        spoofed = post(behind_lb.url, "classify", frames[7], headers={"X-Request-ID": "lb-trace-0000001"})
        assert spoofed.headers["X-Request-ID"] == "lb-trace-0000001"  # 127.0.0.1 plays the load balancer
        assert logged(gateway.proc.log_path, "lb-trace-0000001")["status"] == 200
        assert in_torchserve_log(torchserve, "lb-trace-0000001")["kind"] == "classify"
        with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=60) as direct:
            files = {"file": ("shot.jpg", frames[7], "image/jpeg")}
            replaced = direct.post(
                f"{behind_lb.url}/api/v1/classify", files=files, headers={"X-Request-ID": "mine-0000001"}
            )
        assert HEX_ID.fullmatch(replaced.headers["X-Request-ID"])
        malformed = post(behind_lb.url, "classify", frames[7], headers={"X-Request-ID": 'x" y'})
        assert HEX_ID.fullmatch(malformed.headers["X-Request-ID"])
    finally:
        behind_lb.stop()
    assert "mine-0000001" not in gateway.proc.log_path.read_text()


def test_the_gateway_log_is_json_lines_without_tokens_or_image_bytes(edge, gateway, torchserve, frames):
    image = frames[8]
    assert post(edge.url, "classify", image).status_code == 200
    assert post(edge.url, "explain", image).status_code == 200
    time.sleep(0.5)  # the access lines are written after the answers
    text = gateway.proc.log_path.read_text()
    lines = json_lines(gateway.proc.log_path)  # every line parses
    access = [line for line in lines if line["logger"] == "gateway.access"]
    assert access
    assert {frozenset(line) for line in access} == {ACCESS_FIELDS}
    key_file = json.loads(torchserve.key_file.read_text())
    tokens = [entry["key"] for entry in key_file.values()]
    logs = {
        "gateway": text,
        "nginx": edge.access_log.read_text(),
        "TorchServe": torchserve.model_log.read_text(),
    }
    for name, log in logs.items():
        for token in tokens:
            assert token not in log, f"a TorchServe key in the {name} log"
    chunk = image[len(image) // 2 : len(image) // 2 + 48]
    for form in (chunk.hex(), base64.b64encode(chunk).decode(), chunk.decode("latin-1")):
        assert form not in text
