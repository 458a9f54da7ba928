"""What a batch holds in the gateway's memory, measured: a one-worker gateway (the serving unit's default)
takes as many full batches as its in-flight cap lets in at once (MAX_IN_FLIGHT places, BATCH_UPLOADS
each), every image a near-limit incompressible PNG and a cache miss, all sent on to a real TorchServe.
The accounting counts a batch as BATCH_UPLOADS uploads' worth of memory; the worker must hold each
batch about once (the parts it parsed), not the two to three times it held while it joined the images
into one request body (docs/performance-log.md, Memory of a batch)."""

from __future__ import annotations

import asyncio
import io
from collections import Counter

import httpx
import numpy as np
from PIL import Image

from benchmarks.common.memory import PeakMemory, rss_of_groups
from gateway.config import Settings
from inference.formats import BATCH_UPLOADS
from launchers.gateway import gateway_env, start_gateway

HELD_PER_BODY_BYTE = 1.6  # 1.12 measured here, 1.29 through nginx; 2.16-2.36 when the images were joined


def near_limit_pngs(count: int) -> list[bytes]:
    """Distinct incompressible PNGs of about 4.9 MB: four make a batch's whole body."""
    noise = np.random.default_rng(7).integers(0, 256, (1170, 1460, 3), dtype=np.uint8)
    images = []
    for n in range(count):
        noise[0, 0, :] = (n, n >> 8, 1)  # distinct bytes: every one a cache miss
        buffer = io.BytesIO()
        Image.fromarray(noise).save(buffer, "PNG", compress_level=0)
        images.append(buffer.getvalue())
    return images


def test_full_batches_at_the_in_flight_cap_are_each_held_about_once(torchserve, redis_server, tmp_path):
    batches = Settings().max_in_flight // BATCH_UPLOADS
    images = near_limit_pngs(batches * BATCH_UPLOADS)
    assert len(images[0]) > 0.9 * Settings().max_upload_bytes
    bodies = [images[n * BATCH_UPLOADS : (n + 1) * BATCH_UPLOADS] for n in range(batches)]
    body_bytes = sum(map(len, images))
    env = gateway_env(torchserve, redis_server.url, RATE_LIMIT="100000/minute")
    gateway = start_gateway(tmp_path, env, workers=1)

    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=300) as client:
            sends = (
                client.post(
                    "/api/v1/classify/batch",
                    files=[("files", (f"{n}.png", image, "image/png")) for n, image in enumerate(body)],
                )
                for body in bodies
            )
            return await asyncio.gather(*sends)

    try:
        idle = rss_of_groups([gateway.proc.pid])
        with PeakMemory([gateway.proc.pid], interval=0.01) as meter:
            answers = asyncio.run(send_all())
    finally:
        gateway.stop()
    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {200: batches}, [answer.text[:200] for answer in answers]
    assert all("label" in result for answer in answers for result in answer.json()["results"])
    held = meter.peak - idle
    assert held < HELD_PER_BODY_BYTE * body_bytes, (
        f"{held / 2**20:.0f} MB held for {batches} batches of {body_bytes / 2**20:.0f} MB in all: "
        f"{held / body_bytes:.2f} per byte"
    )
