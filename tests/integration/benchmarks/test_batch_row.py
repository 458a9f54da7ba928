"""make bench's batch row at its smallest size, on real servers (Redis, TorchServe, the gateway and
nginx), so that it cannot rot; it prints what it measured."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from benchmarks.common.images import synthetic_frames
from benchmarks.suite import batch
from launchers.gateway import gateway_env, start_gateway
from launchers.nginx import start_nginx
from launchers.redis import RedisServer
from launchers.stack import UNLIMITED
from nginx.render import EdgeSettings


def test_a_batch_of_8_and_8_singles_are_both_measured_as_cache_misses(torchserve, synthetic_data, tmp_path):
    web_root = Path(tempfile.mkdtemp(prefix="fromsoft-web-"))
    web_root.chmod(0o755)
    redis = RedisServer(tmp_path / "redis").start()
    gateway = edge = None
    try:
        env = gateway_env(torchserve, redis.url, RATE_LIMIT=UNLIMITED["RATE_LIMIT"])
        gateway = start_gateway(tmp_path, env, workers=2)
        edge = start_nginx(
            tmp_path, gateway.port, web_root, EdgeSettings(limit_rate=100000, limit_burst=100000)
        )
        measured = batch.measure(edge.url, synthetic_frames(synthetic_data, 8), rounds=3, first=0)
    finally:
        for server in (edge, gateway, redis):
            if server is not None:
                server.stop()
        shutil.rmtree(web_root)
    assert measured["batch_ms"]["n"] == measured["singles_ms"]["n"] == 3
    assert measured["batch_ms"]["p50"] > 0
    assert measured["singles_ms"]["p50"] > 0
    text = "\n".join(batch.markdown(measured))
    assert "| one batch of 8 |" in text
    assert "| 8 single requests |" in text
    print(text)
