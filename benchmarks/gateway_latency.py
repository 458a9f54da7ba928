"""What the gateway adds and what its cache saves: cache-hit latency against a miss, and a miss through
the gateway against calling TorchServe directly, measured side by side in rounds.

    python -m benchmarks.gateway_latency --out artifacts/bench/gateway.json
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.common import machine, summary, write_json
from benchmarks.images import synthetic_frames
from tests.support.gateway import gateway_env, start_gateway
from tests.support.redis import RedisServer
from tests.support.torchserve import start_torchserve


def timed(client: httpx.Client, url: str, image: bytes) -> tuple[float, dict]:
    started = time.perf_counter()
    response = client.post(url, content=image, headers={"Content-Type": "image/jpeg"})
    response.raise_for_status()
    return (time.perf_counter() - started) * 1000, response.json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, default=Path("runs/demo"), help="run directory with data/")
    parser.add_argument("--model-store", type=Path, default=Path("model_store"))
    parser.add_argument("--images", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/gateway.json"))
    args = parser.parse_args()
    images = synthetic_frames(args.run / "data", args.images)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        torchserve = start_torchserve(args.model_store.resolve(), work / "ts")
        redis = RedisServer(work / "redis").start()
        gateway = None
        try:
            env = gateway_env(torchserve, redis.url, RATE_LIMIT="100000/minute")
            gateway = start_gateway(work, env, workers=1)
            direct_client = httpx.Client(headers=torchserve.headers("inference"), timeout=60)
            client = httpx.Client(timeout=60)
            direct_url = f"{torchserve.inference_url}/predictions/fromsoft"
            gateway_url = f"{gateway.url}/api/v1/classify"
            for image in images[:3]:  # warm-up
                timed(direct_client, direct_url, image)
                timed(client, gateway_url, image)
            direct, miss, hit, hit_server = [], [], [], []
            for _ in range(args.rounds):
                redis.client().flushall()
                for image in images:  # interleaved, so both see the same machine state
                    direct.append(timed(direct_client, direct_url, image)[0])
                    ms, body = timed(client, gateway_url, image)
                    assert body["cached"] is False
                    miss.append(ms)
                for image in images:
                    for _ in range(3):
                        ms, body = timed(client, gateway_url, image)
                        assert body["cached"] is True
                        hit.append(ms)
                        hit_server.append(body["timings_ms"]["total"])
        finally:
            if gateway is not None:
                gateway.stop()
            redis.stop()
            torchserve.stop()

    results = {
        "direct_torchserve": summary(direct),
        "gateway_miss": summary(miss),
        "gateway_hit": summary(hit),
        "gateway_hit_server_side": summary(hit_server),
    }
    results["hit_speedup_p50"] = results["gateway_miss"]["p50"] / results["gateway_hit"]["p50"]
    results["gateway_overhead_p50_ms"] = results["gateway_miss"]["p50"] - results["direct_torchserve"]["p50"]
    print(f"{'path':<26}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'n':>6}")
    for name in ("direct_torchserve", "gateway_miss", "gateway_hit", "gateway_hit_server_side"):
        r = results[name]
        print(f"{name:<26}{r['p50']:>9.2f}{r['p95']:>9.2f}{r['p99']:>9.2f}{r['n']:>6}")
    print(
        f"cache hit {results['hit_speedup_p50']:.0f}x faster than a miss (p50); gateway overhead on a miss "
        f"{results['gateway_overhead_p50_ms']:.2f} ms (p50, miss minus direct)"
    )
    write_json(
        args.out,
        {
            "machine": machine(),
            "rounds": args.rounds,
            "images": len(images),
            "results": results,
            "overhead_samples_ms": statistics.median([m - d for m, d in zip(miss, direct, strict=True)]),
        },
    )


if __name__ == "__main__":
    main()
