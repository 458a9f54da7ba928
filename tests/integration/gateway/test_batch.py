"""Several screenshots in one request through nginx, the gateway (two workers) and a
real TorchServe, with a real Redis."""

from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from PIL import Image

from benchmarks.common.images import distinct
from launchers.gateway import WRITE_BEHIND_WAIT, gateway_env, start_gateway
from launchers.procs import wait_until
from tests.support.handler_log import handler_lines


def batch(base: str, images: list[bytes], top_k: int = 3, **params: object) -> httpx.Response:
    files = [("files", (f"shot-{i}.jpg", image, "image/jpeg")) for i, image in enumerate(images)]
    return httpx.post(
        f"{base}/api/v1/classify/batch", params={"top_k": top_k, **params}, files=files, timeout=60
    )


def single(base: str, image: bytes, top_k: int = 3) -> dict:
    response = httpx.post(
        f"{base}/api/v1/classify", params={"top_k": top_k}, files={"file": ("s.jpg", image)}, timeout=60
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_one_corrupt_file_among_good_ones_fails_alone_and_the_misses_pay_one_hop(edge, torchserve, frames):
    images = [distinct(frames[0], 1), frames[1][: len(frames[1]) // 3], distinct(frames[2], 1)]
    response = batch(edge.url, images, count=3)
    assert response.status_code == 200, response.text
    first, corrupt, third = response.json()["results"]
    assert corrupt["error"]["code"] == "invalid_image"
    assert corrupt["error"]["request_id"] == response.headers["X-Request-ID"]
    for answer in (first, third):
        assert answer["cached"] is False
        assert len(answer["top_k"]) == 3
        assert answer["timings_ms"]["upstream"] > 0
    assert first["sha256"] != third["sha256"]
    request_id = response.headers["X-Request-ID"]
    wait_until(lambda: handler_lines(torchserve, request_id), 10, "the handler's log line")
    # The cut JPEG's header reads well, so the handler refused it: the misses went in one request.
    [line] = handler_lines(torchserve, request_id)
    assert (line["kind"], line["images"], line["refused"]) == ("classify_many", 3, 1)


def test_each_answer_of_a_batch_is_the_one_its_image_gets_alone(edge, frames):
    images = [distinct(frame, 2) for frame in frames[3:7]]
    results = batch(edge.url, images).json()["results"]
    time.sleep(WRITE_BEHIND_WAIT)
    for image, answer in zip(images, results, strict=True):
        alone = single(edge.url, image)
        assert alone["cached"] is True  # the batch cached each file under the key /classify reads
        assert (alone["sha256"], alone["top_k"]) == (answer["sha256"], answer["top_k"])


def test_a_repeat_is_answered_from_the_cache_file_by_file(edge, frames):
    seen, new = distinct(frames[7], 3), distinct(frames[8], 3)
    single(edge.url, seen)
    time.sleep(WRITE_BEHIND_WAIT)
    results = batch(edge.url, [seen, new, seen]).json()["results"]
    assert [answer["cached"] for answer in results] == [True, False, True]
    assert results[0]["top_k"] == results[2]["top_k"]
    time.sleep(WRITE_BEHIND_WAIT)
    again = batch(edge.url, [new, seen]).json()["results"]
    assert [answer["cached"] for answer in again] == [True, True]
    assert again[0]["top_k"] == results[1]["top_k"]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [({}, 422, "too_many_files"), ({"count": 17}, 422, "invalid_request")],
    ids=["counted", "declared"],
)
def test_seventeen_files_are_refused_whole_in_the_error_shape(edge, frames, params, status, code):
    response = batch(edge.url, [distinct(frames[9], i) for i in range(17)], **params)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["request_id"] == response.headers["X-Request-ID"]


def noise_png(seed: int, size: tuple[int, int] = (1400, 800)) -> bytes:
    """About 3.3 MB: noise does not compress."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def test_nginx_passes_a_batch_heavier_than_one_image_and_stops_one_over_the_batch_limit(edge):
    heavy = [noise_png(seed) for seed in range(3)]  # about 10 MB: over one image's 5 MB, within 20 MB
    passed = batch(edge.url, heavy)
    assert passed.status_code == 200, passed.text
    assert all("label" in answer for answer in passed.json()["results"])
    stopped = batch(edge.url, heavy * 2 + heavy[:1])  # about 24 MB: over the batch's 20 MB
    assert stopped.status_code == 413
    assert stopped.json()["error"]["code"] == "payload_too_large"
    assert "(a batch: 20.0625 MB)" in stopped.json()["error"]["message"]  # nginx's own answer
    assert stopped.headers["X-Content-Type-Options"] == "nosniff"


def test_concurrent_batches_and_singles_each_get_their_own_answers(edge, frames):
    """TorchServe batches requests of different clients: multi-image and single requests together."""
    images = [distinct(frame, 4) for frame in frames]
    groups = [images[0:3], images[3:6], images[6:9]]
    with ThreadPoolExecutor(6) as pool:
        batches = list(pool.map(lambda group: batch(edge.url, group), groups))
        singles = list(pool.map(lambda image: single(edge.url, image), images[9:12]))
    for group, response in zip(groups, batches, strict=True):
        assert response.status_code == 200, response.text
        assert [a["cached"] for a in response.json()["results"]] == [False] * len(group)
    time.sleep(WRITE_BEHIND_WAIT)
    for image, answer in zip(images[9:12], singles, strict=True):
        assert batch(edge.url, [image]).json()["results"][0]["top_k"] == answer["top_k"]


def test_a_batch_over_the_remaining_budget_is_refused_before_its_body_with_what_is_left(
    torchserve, redis_server, frames, tmp_path
):
    redis_server.client().flushall()
    gateway = start_gateway(tmp_path, gateway_env(torchserve, redis_server.url, RATE_LIMIT="5/minute"))
    try:
        images = [distinct(frames[11], i) for i in range(4)]
        assert batch(gateway.url, images, count=4).status_code == 200
        refused = batch(gateway.url, images[:3], count=3)
        assert refused.status_code == 429
        assert refused.json()["error"]["message"].startswith(
            "this batch of 3 files costs 3 units and only 1 are left in this window"
        )
        assert int(refused.headers["Retry-After"]) >= 1
        assert batch(gateway.url, images[:1], count=1).status_code == 200  # the one left
    finally:
        gateway.stop()
