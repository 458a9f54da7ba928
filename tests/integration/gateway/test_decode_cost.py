"""What an image may cost the model worker, on the real stack: each costly shape is refused through nginx
before TorchServe is asked; the worst shapes the limits accept, sent straight to TorchServe (past the
gateway's check), cost the worker under a second of CPU and under 100 MiB above its idle memory; and a
poison image batched with others fails alone."""

from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image

from benchmarks.common.costly_images import REFUSED, WORST_ACCEPTED
from benchmarks.common.memory import cpu_seconds, peak_rss, reset_peak, rss
from inference.formats import CONTENT_TYPES, sniff_format
from launchers.torchserve import TorchServe


def content_type(data: bytes) -> str:
    fmt = sniff_format(data)
    assert fmt is not None
    return CONTENT_TYPES[fmt]


@pytest.mark.parametrize("shape", REFUSED)
def test_each_costly_shape_is_refused_through_nginx_at_once(edge, shape):
    """The issue's probes among them: a 16588800x1 PNG held the worker 10.9 s and failed its whole
    TorchServe batch with a 503; a JPEG of 4000 scans held it 5.2 s."""
    make, status, code = REFUSED[shape]
    data = make()
    started = time.perf_counter()
    response = httpx.post(
        f"{edge.url}/api/v1/classify", content=data, headers={"Content-Type": content_type(data)}, timeout=60
    )
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert time.perf_counter() - started < 2.0  # milliseconds of the gateway's; a margin for a busy machine


@pytest.fixture(scope="module")
def worker_pids(torchserve: TorchServe) -> list[int]:
    """The default version's workers, each having answered a PNG and a progressive JPEG already."""
    for fmt, options in (("PNG", {}), ("JPEG", {"progressive": True})):
        buffer = io.BytesIO()
        Image.new("RGB", (640, 360), (10, 20, 30)).save(buffer, fmt, **options)
        assert torchserve.predict(buffer.getvalue(), f"image/{fmt.lower()}").status_code == 200
    return [int(worker["pid"]) for worker in torchserve.workers("fromsoft")]  # type: ignore[call-overload]


@pytest.mark.parametrize("shape", WORST_ACCEPTED)
def test_the_worst_accepted_images_cost_the_worker_under_a_second_and_100_mib(torchserve, worker_pids, shape):
    """Sent straight to TorchServe, as a caller that skipped the gateway would: the worker's CPU time and
    the most memory it held above what it held idle just before (the kernel's high-water mark, reset
    first: exact, where sampling every few milliseconds can miss a peak)."""
    data = WORST_ACCEPTED[shape]()
    idle = {pid: rss(pid) for pid in worker_pids}
    cpu = {pid: cpu_seconds(pid) for pid in worker_pids}
    for pid in worker_pids:
        reset_peak(pid)
    response = torchserve.predict(data, content_type(data))
    assert response.status_code == 200, response.text
    used = sum(cpu_seconds(pid) - cpu[pid] for pid in worker_pids)
    held = max(peak_rss(pid) - idle[pid] for pid in worker_pids)
    assert used < 1.0
    assert held < 100 * 2**20


def test_a_poison_image_batched_with_others_fails_alone_and_they_are_answered(torchserve, frames):
    """A slow image keeps the worker busy while a 16588800x1 PNG and three frames queue, so TorchServe
    batches them together. The PNG raised past the handler after seconds and failed the whole batch with
    a 503 "busy"; now it is refused alone and its neighbours get 200."""
    slow = WORST_ACCEPTED["JPEG progressive 4:4:4, 32 scans, 7680x2160"]()
    poison = REFUSED["PNG 16588800x1"][0]()
    with ThreadPoolExecutor(max_workers=5) as pool:
        first = pool.submit(torchserve.predict, slow, "image/jpeg")
        time.sleep(0.1)  # the worker has taken it
        queued = [pool.submit(torchserve.predict, poison, "image/png")]
        queued += [pool.submit(torchserve.predict, frame, "image/jpeg") for frame in frames[:3]]
        answers = [future.result() for future in (first, *queued)]
    assert [a.status_code for a in answers] == [200, 422, 200, 200, 200], [a.text for a in answers]
    assert answers[1].json()["error"]["code"] == "unsupported_aspect_ratio"
    assert all(a.json()["label"] for a in answers[2:])
