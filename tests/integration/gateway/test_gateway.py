"""The public API end to end: nginx -> gateway (2 workers) -> TorchServe, with a real Redis."""

from __future__ import annotations

import time

import httpx
import pytest

from benchmarks.common.costly_images import uniform_png
from launchers.gateway import WRITE_BEHIND_WAIT, gateway_env, start_gateway
from launchers.nginx import start_nginx
from launchers.procs import free_port, wait_until
from launchers.redis import RedisServer


def classify(base: str, image: bytes, top_k: int = 3, **kwargs) -> httpx.Response:
    return httpx.post(
        f"{base}/api/v1/classify",
        params={"top_k": top_k},
        files={"file": ("shot.jpg", image, "image/jpeg")},
        timeout=60,
        **kwargs,
    )


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


def test_a_miss_then_a_hit_through_nginx(edge, frames):
    first = classify(edge.url, frames[0], top_k=2)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["cached"] is False
    assert len(body["top_k"]) == 2
    assert body["label"] in {e["label"] for e in body["top_k"]} | {"unknown"}
    assert body["timings_ms"]["upstream"] > 0
    time.sleep(WRITE_BEHIND_WAIT)
    second = classify(edge.url, frames[0], top_k=2).json()
    assert second["cached"] is True
    assert second["sha256"] == body["sha256"]
    assert second["top_k"] == body["top_k"]
    assert classify(edge.url, frames[0], top_k=3).json()["cached"] is False  # top_k is part of the key


def test_the_raw_body_with_an_image_content_type_works_too(edge, frames):
    response = httpx.post(
        f"{edge.url}/api/v1/classify", content=frames[1], headers={"Content-Type": "image/jpeg"}
    )
    assert response.status_code == 200
    assert response.json()["top_k"]


def test_a_real_screenshot_is_classified(edge, screenshots):
    path = sorted(screenshots.rglob("*.png"))[0]
    response = httpx.post(
        f"{edge.url}/api/v1/classify", files={"file": (path.name, path.read_bytes(), "image/png")}, timeout=60
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("size", "mode", "pixel", "status", "code"),
    [
        ((6000, 6000), "I;16", (30000).to_bytes(2, "big"), 413, "image_too_large"),
        ((6000, 6000), "RGBA", bytes([200, 30, 30, 128]), 413, "image_too_large"),
        ((7680, 2160), "I;16", (30000).to_bytes(2, "big"), 200, None),
        ((7680, 2160), "RGBA", bytes([200, 30, 30, 128]), 200, None),
    ],
    ids=["6000x6000-16-bit", "6000x6000-half-transparent", "twice-4K-16-bit", "twice-4K-half-transparent"],
)
def test_a_small_png_of_many_pixels_is_answered_within_a_second(edge, size, mode, pixel, status, code):
    """Refused from its header by the gateway over twice 4K; up to it, reduced by the worker before its
    conversion. About 100 KB each: a cache miss costs what its pixels cost, not what its bytes do."""
    image = uniform_png(*size, mode, pixel)
    started = time.perf_counter()
    response = httpx.post(
        f"{edge.url}/api/v1/classify", content=image, headers={"Content-Type": "image/png"}, timeout=60
    )
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0
    if code is None:
        assert response.status_code == status, response.text
    else:
        assert_error(response, status, code)


def test_a_new_default_version_is_not_answered_from_the_old_cache(edge, torchserve, frames):
    assert classify(edge.url, frames[2]).json()["model"]["version"] == "1.0"
    time.sleep(WRITE_BEHIND_WAIT)
    assert classify(edge.url, frames[2]).json()["cached"] is True
    torchserve.models("add", "fromsoft-2.0.mar", "--default")  # returns once the replica serves it
    try:
        after = classify(edge.url, frames[2]).json()  # the gateway reads the replica's report per request
        assert after["cached"] is False
        assert after["model"]["version"] == "2.0"
    finally:
        torchserve.models("set-default", "fromsoft", "1.0")
        torchserve.models("remove", "fromsoft", "2.0")


def test_redis_dying_mid_run_does_not_stop_classification_and_caching_resumes(edge, redis_server, frames):
    redis_server.stop()
    try:
        for image in frames[3:6]:
            response = classify(edge.url, image)
            assert response.status_code == 200
            assert response.json()["cached"] is False
    finally:
        redis_server.start()
    time.sleep(1.5)  # the breaker's cool-down

    def cached_again() -> bool:
        classify(edge.url, frames[6])
        return bool(classify(edge.url, frames[6]).json()["cached"])

    wait_until(cached_again, 20, "cache after Redis came back")


def test_a_frozen_redis_costs_at_most_its_timeout(edge, redis_server, frames):
    classify(edge.url, frames[7])  # warm: TorchServe's time is not what this measures
    redis_server.freeze()
    try:
        elapsed = []
        for _ in range(4):
            started = time.perf_counter()
            assert classify(edge.url, frames[7]).status_code == 200
            elapsed.append(time.perf_counter() - started)
    finally:
        redis_server.thaw()
    assert max(elapsed) < 2.0, elapsed  # 50 ms Redis timeouts, then the breaker skips Redis entirely


def test_rate_limit_is_exact_across_two_workers_and_ignores_spoofed_headers(
    torchserve, redis_server, web_root, frames, tmp_path
):
    redis_server.client().flushall()
    limited = start_gateway(
        tmp_path, gateway_env(torchserve, redis_server.url, RATE_LIMIT="6/minute"), workers=2
    )
    edge = start_nginx(tmp_path, limited.port, web_root)
    try:
        statuses = []
        for i in range(10):
            # nginx replaces the client's X-Forwarded-For, so every request lands in one bucket.
            response = classify(edge.url, frames[8], headers={"X-Forwarded-For": f"198.51.100.{i}"})
            statuses.append(response.status_code)
        assert statuses.count(200) == 6
        assert statuses.count(429) == 4
        refused = classify(edge.url, frames[8])
        assert_error(refused, 429, "rate_limited")
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.headers["X-RateLimit-Limit"] == "6"
        assert refused.headers["X-RateLimit-Remaining"] == "0"
    finally:
        edge.stop()
        limited.stop()


def test_only_trusted_proxies_choose_the_bucket_and_a_refusal_wins_over_a_bad_upload(
    torchserve, redis_server, frames, tmp_path
):
    """Only TRUSTED_PROXIES decides whose X-Forwarded-For counts, not the server's own defaults."""
    redis_server.client().flushall()
    env = gateway_env(torchserve, redis_server.url, RATE_LIMIT="2/minute", TRUSTED_PROXIES="10.99.0.0/16")
    direct = start_gateway(tmp_path, env)
    try:
        statuses = [
            classify(direct.url, frames[9], headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
            for i in range(3)
        ]
        assert statuses == [200, 200, 429]
        # A refusal wins over whatever else is wrong with the request, ours or Starlette's to find.
        garbage = httpx.post(
            f"{direct.url}/api/v1/classify", content=b"not an image", headers={"Content-Type": "image/png"}
        )
        assert_error(garbage, 429, "rate_limited")
        no_boundary = httpx.post(
            f"{direct.url}/api/v1/classify", content=b"--x--", headers={"Content-Type": "multipart/form-data"}
        )
        assert_error(no_boundary, 429, "rate_limited")
    finally:
        direct.stop()


def test_management_metrics_and_probe_paths_are_not_reachable_through_nginx(edge, torchserve):
    for path in (
        "/metrics",
        "/readyz",
        "/models",
        "/models/fromsoft",
        "/predictions/fromsoft",
        "/ping",
        "/api/v1/../metrics",
        "/api/metrics",
        "/api/models",
    ):
        response = httpx.get(edge.url + path)
        assert response.status_code == 404, path
        assert "fromsoft" not in response.text, path
        assert "ts_" not in response.text, path
    response = httpx.post(edge.url + "/models", params={"url": "fromsoft.mar"})
    assert response.status_code in (404, 405)
    assert httpx.get(edge.url + "/api/v1/models").status_code == 200  # the read-only view is public


def test_every_client_error_has_its_status_and_shape(edge, gateway, frames):
    assert_error(
        httpx.post(f"{edge.url}/api/v1/classify", content=b"", headers={"Content-Type": "image/png"}),
        400,
        "empty_payload",
    )
    assert_error(
        httpx.post(f"{edge.url}/api/v1/classify", files={"file": ("x.png", b"plain text", "image/png")}),
        415,
        "unsupported_media_type",
    )
    assert_error(
        httpx.post(
            f"{edge.url}/api/v1/classify", content=b"{}", headers={"Content-Type": "application/json"}
        ),
        415,
        "unsupported_media_type",
    )
    assert_error(classify(edge.url, frames[0], top_k=0), 422, "invalid_request")
    assert_error(
        httpx.post(f"{edge.url}/api/v1/classify", files={"other": ("x.jpg", frames[0], "image/jpeg")}),
        422,
        "missing_file",
    )
    truncated = frames[9][: len(frames[9]) // 3]
    assert_error(classify(edge.url, truncated), 400, "invalid_image")
    big = b"\xff\xd8\xff" + b"\x00" * (5 * 1024 * 1024 + 10)
    assert_error(
        httpx.post(f"{gateway.url}/api/v1/classify", content=big, headers={"Content-Type": "image/jpeg"}),
        413,
        "payload_too_large",
    )
    assert_error(
        httpx.post(
            f"{edge.url}/api/v1/classify",
            content=big + b"\x00" * 200_000,
            headers={"Content-Type": "image/jpeg"},
        ),
        413,
        "payload_too_large",
    )


def test_torchserve_down_gives_503_and_a_timeout_gives_504(torchserve, redis_server, tmp_path, frames):
    redis_server.client().flushall()  # a fresh rate-limit window for this client
    closed = free_port()
    down = start_gateway(
        tmp_path / "down",
        gateway_env(
            torchserve,
            redis_server.url,
            TORCHSERVE_INFERENCE_URL=f"http://127.0.0.1:{closed}",
            REPLICA_STATUS_FILE=str(tmp_path / "no-report.json"),
            RATE_LIMIT="2/minute",
        ),
        wait_ready=False,
    )
    try:
        response = classify(down.url, frames[10])
        assert_error(response, 503, "model_unavailable")
        assert response.headers["Retry-After"]
        assert httpx.get(down.url + "/readyz").status_code == 503
        assert_error(classify(down.url, frames[10]), 503, "model_unavailable")
        assert_error(classify(down.url, frames[10]), 429, "rate_limited")  # counted while the model was away
    finally:
        down.stop()
    slow = start_gateway(
        tmp_path / "slow",
        gateway_env(torchserve, redis_server.url, UPSTREAM_READ_TIMEOUT="0.001"),
        wait_ready=False,
    )
    try:
        assert_error(classify(slow.url, frames[11]), 504, "upstream_timeout")
    finally:
        slow.stop()


def test_readiness_on_the_gateway_itself(gateway):
    """(Its metrics: tests/integration/gateway/test_observability.py.)"""
    ready = httpx.get(gateway.url + "/readyz").json()
    assert ready["status"] == "ready"
    # Earlier tests froze and restarted Redis: a worker's pooled connection may need one call to recover.
    wait_until(
        lambda: httpx.get(gateway.url + "/readyz").json()["redis"] == "ok", 15, "Redis seen healthy again"
    )


@pytest.mark.parametrize("top_k", [1, 7])
def test_top_k_bounds_are_accepted(edge, frames, top_k):
    assert len(classify(edge.url, frames[0], top_k=top_k).json()["top_k"]) == top_k


def test_explain_returns_a_heatmap(edge, frames):
    response = httpx.post(
        f"{edge.url}/api/v1/explain", files={"file": ("a.jpg", frames[0], "image/jpeg")}, timeout=60
    )
    assert response.status_code == 200, response.text
    assert response.json()["rows"] == len(response.json()["heatmap"])


def test_a_redis_with_a_wrong_password_is_skipped_not_fatal(torchserve, tmp_path, frames):
    guarded = RedisServer(tmp_path / "redis", password="right-password").start()
    wrong = f"redis://:wrong-password@127.0.0.1:{guarded.port}/0"
    gateway = start_gateway(tmp_path, gateway_env(torchserve, wrong, RATE_LIMIT="100/minute"))
    try:
        for _ in range(2):
            response = classify(gateway.url, frames[4])
            assert response.status_code == 200, response.text
            assert response.json()["cached"] is False
        assert httpx.get(gateway.url + "/readyz").json()["redis"] == "degraded"
    finally:
        gateway.stop()
        guarded.stop()
