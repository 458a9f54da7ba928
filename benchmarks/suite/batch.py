"""make bench's batch row: 8 distinct images in one POST /api/v1/classify/batch against the same kind of
8 sent one request each, at concurrency 1, through nginx and the gateway, every image a cache miss. A
batch pays the client's round trip, nginx's and the gateway's pass and TorchServe's hop once, and its
images go through the model in one run; singles pay each of those eight times. Batches and singles
alternate round by round, so that drift hits both alike.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx

from benchmarks.common.images import distinct_uploads
from benchmarks.common.report import summary

IMAGES = 8


def _batch(client: httpx.Client, url: str, images: list[bytes]) -> float:
    files = [("files", (f"{i}.jpg", image, "image/jpeg")) for i, image in enumerate(images)]
    started = time.perf_counter()
    response = client.post(f"{url}/api/v1/classify/batch", files=files, params={"count": len(images)})
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    results = response.json()["results"]
    if any("error" in result or result["cached"] for result in results):
        raise RuntimeError(f"a batch image was refused or cached: {results}")
    return elapsed


def _singles(client: httpx.Client, url: str, images: list[bytes]) -> float:
    started = time.perf_counter()
    for image in images:
        response = client.post(f"{url}/api/v1/classify", files={"file": ("shot.jpg", image, "image/jpeg")})
        response.raise_for_status()
        if response.json()["cached"]:
            raise RuntimeError("a single image was answered from the cache")
    return (time.perf_counter() - started) * 1000


def measure(url: str, frames: list[bytes], rounds: int, first: int) -> dict[str, Any]:
    """Milliseconds for 8 images each way over ``rounds`` rounds, each image made distinct (numbered from
    ``first``, so that no other measurement's images are hits)."""
    batches, singles = [], []
    with httpx.Client(timeout=120) as client:
        for index in range(rounds):
            base = first + 2 * IMAGES * index
            batches.append(_batch(client, url, distinct_uploads(frames, IMAGES, base)))
            singles.append(_singles(client, url, distinct_uploads(frames, IMAGES, base + IMAGES)))
    return {
        "images": IMAGES,
        "rounds": rounds,
        "batch_ms": summary(batches),
        "singles_ms": summary(singles),
        "speedup": statistics.median(singles) / statistics.median(batches),
    }


def markdown(measured: dict[str, Any]) -> list[str]:
    n = measured["images"]
    lines = [
        f"### A batch of {n} against {n} single requests (concurrency 1, cache misses through nginx)",
        "",
        f"{measured['rounds']} rounds, alternating; `benchmarks/suite/batch.py`.",
        "",
        f"| {n} distinct images | p50 ms | p95 ms | images/s at p50 |",
        "| --- | --- | --- | --- |",
    ]
    for name, key in ((f"one batch of {n}", "batch_ms"), (f"{n} single requests", "singles_ms")):
        figures = measured[key]
        lines.append(
            f"| {name} | {figures['p50']:.1f} | {figures['p95']:.1f} | {1000 * n / figures['p50']:.1f} |"
        )
    lines += ["", f"The batch takes {measured['speedup']:.2f}x less time than the singles at p50."]
    return lines
