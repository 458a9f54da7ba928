"""nginx at the edge in front of the real gateway: fair per-client limits behind a trusted proxy, its
own flood limits, and large uploads spilled to disk by its unprivileged worker."""

from __future__ import annotations

import io
import json
import secrets

import httpx
import numpy as np
from PIL import Image

from launchers.gateway import gateway_env, start_gateway
from launchers.nginx import start_nginx
from nginx.render import EdgeSettings


def client_at(address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (any 127.0.0.0/8 address is this host)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=60)


def test_behind_a_trusted_proxy_each_client_has_its_own_bucket_and_others_cannot_pick_one(
    torchserve, redis_server, web_root, frames, tmp_path
):
    redis_server.client().flushall()
    gateway = start_gateway(tmp_path, gateway_env(torchserve, redis_server.url, RATE_LIMIT="2/minute"))
    # 127.0.0.1 plays the ingress controller; 127.0.0.2 is a client reaching nginx directly.
    edge = start_nginx(tmp_path, gateway.port, web_root, EdgeSettings(trusted_proxies=("127.0.0.1/32",)))

    def status(client: httpx.Client, forwarded_for: str) -> int:
        response = client.post(
            f"{edge.url}/api/v1/classify",
            files={"file": ("s.jpg", frames[0], "image/jpeg")},
            headers={"X-Forwarded-For": forwarded_for},
        )
        return response.status_code

    try:
        with client_at("127.0.0.1") as ingress, client_at("127.0.0.2") as direct:
            assert [status(ingress, "203.0.113.1") for _ in range(3)] == [200, 200, 429]
            assert status(ingress, "203.0.113.2") == 200  # another user behind the same ingress
            # Not a trusted proxy: its X-Forwarded-For is ignored, every request counts against 127.0.0.2.
            assert [status(direct, f"203.0.113.{i}") for i in (3, 4, 5)] == [200, 200, 429]
        logged = [json.loads(line) for line in edge.access_log.read_text().splitlines()]
        assert "203.0.113.1" in {line["remote_addr"] for line in logged}  # the real client, not the proxy
    finally:
        edge.stop()
        gateway.stop()


def test_with_the_edge_key_a_local_process_straight_to_the_gateway_chooses_no_bucket_and_nginx_still_does(
    torchserve, redis_server, web_root, tmp_path
):
    """Natively nginx and every local process reach the gateway from loopback, which it trusts: the
    edge's key (EDGE_KEY_FILE, read by both) tells nginx apart. A process that sends the gateway
    X-Forwarded-For and X-Request-ID of its choosing, and a wrong key, is counted as itself and logged
    under an ID of the gateway's; behind nginx each client keeps its own bucket."""
    redis_server.client().flushall()
    key_file = tmp_path / "edge-key"
    key_file.write_text(secrets.token_urlsafe(24))
    env = gateway_env(torchserve, redis_server.url, RATE_LIMIT="2/minute", EDGE_KEY_FILE=str(key_file))
    gateway = start_gateway(tmp_path, env)
    settings = EdgeSettings.from_env({"EDGE_TRUSTED_PROXIES": "127.0.0.1/32", "EDGE_KEY_FILE": str(key_file)})
    edge = start_nginx(tmp_path, gateway.port, web_root, settings)

    def models(url: str, client: str, key: str | None = None) -> httpx.Response:
        forged = {"X-Forwarded-For": client, "X-Request-ID": f"chosen-by-{client}"}
        return httpx.get(f"{url}/api/v1/models", headers=forged | ({"X-Edge-Key": key} if key else {}))

    try:
        behind_nginx = [models(edge.url, "203.0.113.1").status_code for _ in range(3)]
        assert behind_nginx == [200, 200, 429]
        assert models(edge.url, "203.0.113.2").status_code == 200  # another client behind the same proxy
        straight = [models(gateway.url, f"198.51.100.{i}", key="not-the-key") for i in range(3)]
        assert [answer.status_code for answer in straight] == [200, 200, 429]
        assert not [a for a in straight if a.headers["X-Request-ID"].startswith("chosen-by-")]
        unkeyed = models(gateway.url, "198.51.100.9")
        assert unkeyed.status_code == 429  # still counted as loopback, as the three above
    finally:
        edge.stop()
        gateway.stop()


def test_the_edge_answers_a_flood_from_one_address_with_json_429s_and_serves_the_others(
    gateway, web_root, tmp_path
):
    edge = start_nginx(tmp_path, gateway.port, web_root, EdgeSettings(limit_rate=1, limit_burst=2))
    try:
        with client_at("127.0.0.3") as flooding, client_at("127.0.0.4") as other:
            answers = [flooding.get(f"{edge.url}/api/v1/models") for _ in range(8)]
            refused = [a for a in answers if a.status_code == 429]
            assert len(refused) >= 4, [a.status_code for a in answers]
            assert refused[0].json()["error"]["code"] == "rate_limited"
            assert refused[0].headers["Retry-After"] == "1"
            assert refused[0].json()["error"]["request_id"] == refused[0].headers["X-Request-ID"]
            assert other.get(f"{edge.url}/api/v1/models").status_code == 200
    finally:
        edge.stop()


def test_an_upload_near_the_limit_passes_through_the_edge_and_its_disk_buffer(edge, tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (1200, 1400, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "PNG", compress_level=0)
    image = buffer.getvalue()
    assert 4.5 * 1024 * 1024 < len(image) < 5 * 1024 * 1024
    response = httpx.post(
        f"{edge.url}/api/v1/classify", files={"file": ("big.png", image, "image/png")}, timeout=60
    )
    assert response.status_code == 200, response.text
