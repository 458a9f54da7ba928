"""Which HTTP client the gateway should use for TorchServe: the same uploads posted to TorchServe by
http.client (the floor), httpx.AsyncClient, aiohttp and the gateway's own keep-alive connections
(gateway.http_pool), interleaved per image, on one event loop.

    python -m benchmarks.upstream_clients --out artifacts/bench/upstream_clients.json
"""

from __future__ import annotations

import http.client
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import httpx
import uvloop

from benchmarks.common import machine, serving_parser, summary, write_json
from benchmarks.images import run_frames
from gateway.http_pool import HttpPool
from launchers.torchserve import TorchServe, start_torchserve


async def compare(torchserve: TorchServe, images: list[bytes], rounds: int) -> dict[str, list[float]]:
    url = f"{torchserve.inference_url}/predictions/fromsoft"
    headers = {"Content-Type": "image/jpeg", **torchserve.headers("inference")}
    raw = http.client.HTTPConnection("127.0.0.1", torchserve.inference_port, timeout=60)
    pool = HttpPool(torchserve.inference_url, 1, 60)
    async with httpx.AsyncClient(timeout=60) as hx, aiohttp.ClientSession() as ah:

        async def with_http_client(image: bytes) -> None:
            raw.request("POST", "/predictions/fromsoft", body=image, headers=headers)
            raw.getresponse().read()

        async def with_httpx(image: bytes) -> None:
            (await hx.post(url, content=image, headers=headers)).raise_for_status()

        async def with_aiohttp(image: bytes) -> None:
            async with ah.post(url, data=image, headers=headers) as response:
                await response.read()

        async def with_http_pool(image: bytes) -> None:
            assert (await pool.request("POST", "/predictions/fromsoft", image, headers)).status == 200

        clients: dict[str, Callable[[bytes], Awaitable[None]]] = {
            "http.client (floor)": with_http_client,
            "httpx.AsyncClient": with_httpx,
            "aiohttp": with_aiohttp,
            "gateway.http_pool": with_http_pool,
        }
        samples: dict[str, list[float]] = {name: [] for name in clients}
        for round_index in range(rounds + 1):  # round 0 warms TorchServe's Java front end up
            for image in images:
                for name, post in clients.items():
                    started = time.perf_counter()
                    await post(image)
                    if round_index:
                        samples[name].append((time.perf_counter() - started) * 1000)
    raw.close()
    await pool.close()
    return samples


def main() -> None:
    args = serving_parser(__doc__.split("\n")[0], "upstream_clients.json", rounds=3).parse_args()
    images = run_frames(args.run, args.images)
    with tempfile.TemporaryDirectory() as tmp:
        torchserve = start_torchserve(args.model_store.resolve(), Path(tmp) / "ts")
        try:
            samples = uvloop.run(compare(torchserve, images, args.rounds))
        finally:
            torchserve.stop()
    floor = statistics.median(samples["http.client (floor)"])
    results = {
        name: {**summary(values), "over_floor_ms": statistics.median(values) - floor}
        for name, values in samples.items()
    }
    print(f"{'client':<22}{'p50 ms':>9}{'p95 ms':>9}{'over floor':>12}")
    for name, r in results.items():
        print(f"{name:<22}{r['p50']:>9.2f}{r['p95']:>9.2f}{r['over_floor_ms']:>12.2f}")
    write_json(
        args.out, {"machine": machine(), "images": len(images), "rounds": args.rounds, "results": results}
    )


if __name__ == "__main__":
    main()
