"""Memory under many large uploads at once: the native stack (scripts/stack.sh, as `make up` runs it)
takes 64 uploads of about 5 MB at the same moment, through nginx, in three scenarios:

  many clients   64 clients, one upload each, from 64 loopback addresses (a busy public service)
  one client     the same 64 uploads from one address (a client flooding the service)
  full batches   6 clients, one batch each of BATCH_UPLOADS such images (a batch's whole body): together
                 they fill a gateway worker's MAX_IN_FLIGHT, four places each

It samples the resident memory of the gateway's processes (all its workers) and of nginx's while the
uploads run, and counts the answers by status; every answer must be JSON. Prints a table and writes
artifacts/bench/upload_memory.json.

    .venv/bin/python -m benchmarks.studies.upload_memory [--model-store model_store] [--uploads 64] \
        [--batches 6]
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
from inference.formats import BATCH_UPLOADS
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


async def upload_all(
    web: str, uploads: list[list[bytes]], addresses: list[str]
) -> list[tuple[int, bool, float]]:
    """Every upload at once, upload i from ``addresses[i]``: (status, JSON?, seconds) per upload. An
    upload of one image goes to /classify, of several to /classify/batch."""
    start = asyncio.Event()

    async def one(images: list[bytes], address: str) -> tuple[int, bool, float]:
        transport = httpx.AsyncHTTPTransport(local_address=address)
        async with httpx.AsyncClient(transport=transport, timeout=120) as client:
            await start.wait()
            began = time.perf_counter()
            if len(images) == 1:
                url, files = f"{web}/api/v1/classify", [("file", ("big.png", images[0], "image/png"))]
            else:
                url = f"{web}/api/v1/classify/batch"
                files = [("files", (f"big-{n}.png", image, "image/png")) for n, image in enumerate(images)]
            response = await client.post(url, files=files)
            is_json = response.headers.get("content-type", "").startswith("application/json")
            try:
                response.json()
            except ValueError:
                is_json = False
            return response.status_code, is_json, time.perf_counter() - began

    pairs = zip(uploads, addresses, strict=True)
    tasks = [asyncio.create_task(one(images, address)) for images, address in pairs]
    await asyncio.sleep(0.2)  # every client ready
    start.set()
    return await asyncio.gather(*tasks)


def scenario(
    web: str, uploads: list[list[bytes]], addresses: list[str], groups: dict[str, int]
) -> dict[str, Any]:
    idle = {name: rss_of_groups([pid]) for name, pid in groups.items()}
    meters = {name: PeakMemory([pid], interval=0.02) for name, pid in groups.items()}
    for meter in meters.values():
        meter.__enter__()
    began = time.perf_counter()
    try:
        answers = asyncio.run(upload_all(web, uploads, addresses))
    finally:
        for meter in meters.values():
            meter.__exit__()
    statuses = Counter(status for status, _, _ in answers)
    return {
        "uploads": len(uploads),
        "body_mb": round(sum(len(image) for images in uploads for image in images) / MB, 1),
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
    parser.add_argument("--batches", type=int, default=6, help="full batches at once (default 6)")
    parser.add_argument("--size-mb", type=float, default=4.9, help="each image's size (default 4.9)")
    parser.add_argument("--out", type=Path, default=REPO / "artifacts/bench/upload_memory.json")
    args = parser.parse_args()

    images = large_pngs(args.uploads + args.batches * BATCH_UPLOADS, int(args.size_mb * MB))
    print(f"{len(images)} PNGs of {len(images[0]) / MB:.2f} MB")
    singles = [[image] for image in images[: args.uploads]]
    rest = images[args.uploads :]
    batches = [rest[n * BATCH_UPLOADS : (n + 1) * BATCH_UPLOADS] for n in range(args.batches)]
    native = NativeStack(Path(tempfile.mkdtemp(prefix="upload-memory-")), args.model_store.resolve())
    native.up()
    try:
        web = native.web
        groups = {"gateway": native.pid("gateway-1"), "nginx": native.pid("nginx")}  # replica 1's gateway
        results = {}
        if singles:
            many = [f"127.0.0.{10 + i}" for i in range(len(singles))]
            results["many clients"] = scenario(web, singles, many, groups)
            results["one client"] = scenario(web, singles, ["127.0.0.9"] * len(singles), groups)
        if batches:
            addresses = [f"127.0.1.{10 + i}" for i in range(len(batches))]
            results["full batches"] = scenario(web, batches, addresses, groups)
    finally:
        native.down()
    print("\n| scenario | uploads | bodies | answers by status | all JSON | gateway RSS idle -> peak", end="")
    print(" | nginx RSS idle -> peak |")
    print("| --- | ---: | ---: | --- | --- | ---: | ---: |")
    for name, r in results.items():
        statuses = ", ".join(f"{count}x {status}" for status, count in r["statuses"].items())
        answered = "yes" if r["all_json"] else "NO"
        print(
            f"| {name} | {r['uploads']} | {r['body_mb']} MB | {statuses} | {answered} "
            f"| {r['idle_mb']['gateway']} -> {r['peak_mb']['gateway']} MB "
            f"| {r['idle_mb']['nginx']} -> {r['peak_mb']['nginx']} MB |"
        )
    write_json(args.out, {"machine": machine(), "size_bytes": len(images[0]), "results": results})


if __name__ == "__main__":
    main()
