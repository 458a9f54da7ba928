"""What the gateway adds and what its cache saves: cache-hit latency against a miss, and a miss through
the gateway against calling TorchServe directly, measured side by side in rounds. A bare forwarder
(benchmarks/gateway_cost/forwarder.py) runs beside them as the floor for any Python hop on this machine.

    python -m benchmarks.gateway_cost.latency --out artifacts/bench/gateway.json

The client is a keep-alive ``http.client`` connection per target: httpx's own per-request cost (about
0.4 ms here) would otherwise be counted as the gateway's, and it is the same for every path anyway.
"""

from __future__ import annotations

import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common.images import run_frames
from benchmarks.common.report import machine, serving_parser, summary, write_json
from launchers import REPO
from launchers.gateway import gateway_env, start_gateway
from launchers.procs import LoopbackServer, ManagedProcess, free_port, port_open, wait_until
from launchers.redis import RedisServer
from launchers.torchserve import TorchServe, start_torchserve
from ops import torchserve_keys


class KeepAlive:
    """One persistent connection; ``post`` returns the round trip in ms and the JSON answer."""

    def __init__(self, port: int, path: str, headers: dict[str, str] | None = None) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.path = path
        self.headers = {"Content-Type": "image/jpeg", **(headers or {})}

    def post(self, image: bytes) -> tuple[float, dict[str, Any]]:
        started = time.perf_counter()
        self.connection.request("POST", self.path, body=image, headers=self.headers)
        response = self.connection.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise RuntimeError(f"{self.path} answered {response.status}: {body[:200]!r}")
        return elapsed, json.loads(body)


def direct_client(torchserve: TorchServe) -> KeepAlive:
    """Straight to TorchServe's inference API: the baseline every overhead is paired against."""
    return KeepAlive(torchserve.inference_port, "/predictions/fromsoft", torchserve.headers("inference"))


def start_forwarder(workdir: Path, torchserve: TorchServe) -> LoopbackServer:
    port = free_port()
    argv = [sys.executable, "-m", "benchmarks.gateway_cost.forwarder", "--port", str(port), "--workers", "1"]
    env = {
        "FORWARD_URL": f"{torchserve.inference_url}/predictions/fromsoft",
        "FORWARD_TOKEN": torchserve_keys.key(torchserve.key_file, "inference"),
        "PYTHONPATH": str(REPO),
    }
    forwarder = LoopbackServer(ManagedProcess(argv, workdir / "forwarder.log", env=env, cwd=REPO), port)
    wait_until(lambda: port_open(port), 30, "forwarder", forwarder.proc)
    return forwarder


def main() -> None:
    args = serving_parser(__doc__.split("\n")[0], "gateway.json", rounds=5).parse_args()
    images = run_frames(args.run, args.images)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        torchserve = start_torchserve(args.model_store.resolve(), work / "ts")
        redis = RedisServer(work / "redis").start()
        servers: list[LoopbackServer] = []
        try:
            env = gateway_env(torchserve, redis.url, RATE_LIMIT="100000/minute")
            gateway = start_gateway(work, env, workers=1)
            servers.append(gateway)
            forwarder = start_forwarder(work, torchserve)
            servers.append(forwarder)
            direct = direct_client(torchserve)
            bare = KeepAlive(forwarder.port, "/")
            public = KeepAlive(gateway.port, "/api/v1/classify")
            for image in images * 2:  # warm-up: TorchServe's Java front end needs a few dozen to settle
                direct.post(image)
                bare.post(image)
                public.post(image)
            samples: dict[str, list[float]] = {
                "direct_torchserve": [],
                "bare_forwarder": [],
                "gateway_miss": [],
                "gateway_miss_server_side": [],
                "gateway_hit": [],
                "gateway_hit_server_side": [],
            }
            for _ in range(args.rounds):
                redis.client().flushall()
                for image in images:  # interleaved, so all see the same machine state
                    samples["direct_torchserve"].append(direct.post(image)[0])
                    samples["bare_forwarder"].append(bare.post(image)[0])
                    ms, body = public.post(image)
                    assert body["cached"] is False
                    samples["gateway_miss"].append(ms)
                    samples["gateway_miss_server_side"].append(body["timings_ms"]["total"])
                for image in images:
                    for _ in range(3):
                        ms, body = public.post(image)
                        assert body["cached"] is True
                        samples["gateway_hit"].append(ms)
                        samples["gateway_hit_server_side"].append(body["timings_ms"]["total"])
        finally:
            for server in servers:
                server.stop()
            redis.stop()
            torchserve.stop()

    results: dict[str, Any] = {name: summary(values) for name, values in samples.items()}

    # Each miss is paired with the direct call of the same image just before it: the median of those
    # differences is the overhead, steadier than the difference of two medians on a noisy machine.
    def paired(path: str) -> float:
        return statistics.median(
            m - d for m, d in zip(samples[path], samples["direct_torchserve"], strict=True)
        )

    results["gateway_overhead_p50_ms"] = paired("gateway_miss")
    results["bare_forwarder_overhead_p50_ms"] = paired("bare_forwarder")
    results["gateway_overhead_median_difference_ms"] = (
        results["gateway_miss"]["p50"] - results["direct_torchserve"]["p50"]
    )
    results["hit_speedup_p50"] = results["gateway_miss"]["p50"] / results["gateway_hit"]["p50"]
    print(f"{'path':<26}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'n':>6}")
    for name in samples:
        r = results[name]
        print(f"{name:<26}{r['p50']:>9.2f}{r['p95']:>9.2f}{r['p99']:>9.2f}{r['n']:>6}")
    print(
        f"cache hit {results['hit_speedup_p50']:.1f}x faster than a miss (p50); gateway overhead on a miss "
        f"{results['gateway_overhead_p50_ms']:.2f} ms (median of paired differences; difference of "
        f"medians {results['gateway_overhead_median_difference_ms']:.2f} ms); a bare forwarder adds "
        f"{results['bare_forwarder_overhead_p50_ms']:.2f} ms"
    )
    write_json(
        args.out,
        {"machine": machine(), "rounds": args.rounds, "images": len(images), "results": results},
    )


if __name__ == "__main__":
    main()
