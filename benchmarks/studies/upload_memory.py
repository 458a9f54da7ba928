"""Memory under many large uploads at once: the native stack (scripts/stack.sh, as `make up` runs it)
takes 64 uploads of about 5 MB at the same moment, through nginx, in two scenarios:

  many clients   64 clients, one upload each, from 64 loopback addresses (a busy public service)
  one client     the same 64 uploads from one address (a client flooding the service)

It samples the resident memory of the gateway's processes (all its workers) and of nginx's while the
uploads run, and counts the answers by status; every answer must be JSON. Prints a table and writes
artifacts/bench/upload_memory.json.

    .venv/bin/python -m benchmarks.studies.upload_memory [--model-store model_store] [--uploads 64]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from benchmarks.common.memory import PeakMemory, rss_of_groups
from benchmarks.common.report import machine, write_json
from launchers import REPO
from launchers.stack import NativeStack

MB = 1024 * 1024


def large_pngs(count: int, target_bytes: int) -> list[bytes]:
    """Distinct incompressible PNGs just under ``target_bytes`` (no two share a cache entry)."""
    side = int((target_bytes / 3) ** 0.5) - 8
    images = []
    for seed in range(count):
        pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "PNG", compress_level=0)
        images.append(buffer.getvalue())
    return images


async def upload_all(web: str, images: list[bytes], addresses: list[str]) -> list[tuple[int, bool, float]]:
    """Every image at once, image i from ``addresses[i]``: (status, JSON?, seconds) per upload."""
    start = asyncio.Event()

    async def one(image: bytes, address: str) -> tuple[int, bool, float]:
        transport = httpx.AsyncHTTPTransport(local_address=address)
        async with httpx.AsyncClient(transport=transport, timeout=120) as client:
            await start.wait()
            began = time.perf_counter()
            response = await client.post(
                f"{web}/api/v1/classify", files={"file": ("big.png", image, "image/png")}
            )
            is_json = response.headers.get("content-type", "").startswith("application/json")
            try:
                response.json()
            except ValueError:
                is_json = False
            return response.status_code, is_json, time.perf_counter() - began

    pairs = zip(images, addresses, strict=True)
    tasks = [asyncio.create_task(one(image, address)) for image, address in pairs]
    await asyncio.sleep(0.2)  # every client ready
    start.set()
    return await asyncio.gather(*tasks)


def scenario(web: str, images: list[bytes], addresses: list[str], groups: dict[str, int]) -> dict[str, Any]:
    idle = {name: rss_of_groups([pid]) for name, pid in groups.items()}
    meters = {name: PeakMemory([pid], interval=0.02) for name, pid in groups.items()}
    for meter in meters.values():
        meter.__enter__()
    began = time.perf_counter()
    try:
        answers = asyncio.run(upload_all(web, images, addresses))
    finally:
        for meter in meters.values():
            meter.__exit__()
    statuses = Counter(status for status, _, _ in answers)
    return {
        "uploads": len(images),
        "clients": len(set(addresses)),
        "seconds": round(time.perf_counter() - began, 2),
        "statuses": dict(sorted(statuses.items())),
        "all_json": all(is_json for _, is_json, _ in answers),
        "idle_mb": {name: round(v / MB, 1) for name, v in idle.items()},
        "peak_mb": {name: round(m.peak / MB, 1) for name, m in meters.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-store", type=Path, default=REPO / "model_store")
    parser.add_argument("--uploads", type=int, default=64)
    parser.add_argument("--size-mb", type=float, default=4.9, help="each upload's size (default 4.9)")
    parser.add_argument("--out", type=Path, default=REPO / "artifacts/bench/upload_memory.json")
    args = parser.parse_args()

    images = large_pngs(args.uploads, int(args.size_mb * MB))
    print(f"{len(images)} PNGs of {len(images[0]) / MB:.2f} MB")
    native = NativeStack(Path(tempfile.mkdtemp(prefix="upload-memory-")), args.model_store.resolve())
    native.up()
    try:
        web = native.web
        groups = {"gateway": native.pid("gateway-1"), "nginx": native.pid("nginx")}  # replica 1's gateway
        results = {
            "many clients": scenario(web, images, [f"127.0.0.{10 + i}" for i in range(len(images))], groups),
            "one client": scenario(web, images, ["127.0.0.9"] * len(images), groups),
        }
    finally:
        native.down()
    print("\n| scenario | uploads | answers by status | all JSON | gateway RSS idle -> peak", end="")
    print(" | nginx RSS idle -> peak |")
    print("| --- | ---: | --- | --- | ---: | ---: |")
    for name, r in results.items():
        statuses = ", ".join(f"{count}x {status}" for status, count in r["statuses"].items())
        print(
            f"| {name} | {r['uploads']} | {statuses} | {'yes' if r['all_json'] else 'NO'} "
            f"| {r['idle_mb']['gateway']} -> {r['peak_mb']['gateway']} MB "
            f"| {r['idle_mb']['nginx']} -> {r['peak_mb']['nginx']} MB |"
        )
    write_json(args.out, {"machine": machine(), "size_bytes": len(images[0]), "results": results})


if __name__ == "__main__":
    main()
