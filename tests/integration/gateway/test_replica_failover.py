"""nginx in front of two replicas' gateways: a request the one cannot answer (its TorchServe away: a 503)
is sent to the other, so a visitor never sees one replica's restart."""

from __future__ import annotations

import httpx

from launchers.gateway import gateway_env, start_gateway
from launchers.nginx import start_nginx
from launchers.procs import free_port


def test_a_replica_whose_torchserve_is_away_is_passed_over(
    torchserve, redis_server, web_root, frames, tmp_path
):
    redis_server.client().flushall()
    healthy = start_gateway(
        tmp_path / "a", gateway_env(torchserve, redis_server.url, RATE_LIMIT="1000/minute")
    )
    away = start_gateway(
        tmp_path / "b",
        gateway_env(
            torchserve,
            redis_server.url,
            RATE_LIMIT="1000/minute",
            TORCHSERVE_INFERENCE_URL=f"http://127.0.0.1:{free_port()}",  # nothing listens: TorchServe away
        ),
    )
    edge = start_nginx(tmp_path, [away.port, healthy.port], web_root)
    try:
        alone = httpx.post(f"{away.url}/api/v1/classify", files={"file": ("f.jpg", frames[1], "image/jpeg")})
        assert alone.status_code == 503  # what nginx would otherwise pass on
        statuses = [
            httpx.post(
                f"{edge.url}/api/v1/classify",
                files={"file": ("f.jpg", frames[n % len(frames)], "image/jpeg")},
                timeout=60,
            ).status_code
            for n in range(8)  # round robin: half of them meet the replica that is away first
        ]
        assert statuses == [200] * 8
    finally:
        edge.stop()
        away.stop()
        healthy.stop()
