"""What requests cost against a client's limits, through the real gateway (two workers), a real Redis and
TorchServe: a batch pays for every file, one costing more than a window is refused with a 429 that says
waiting will not help, and concurrent batches of one client take exactly what the admitted ones cost,
whichever worker serves them and however they interleave."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from limits import parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from benchmarks.common.images import distinct_uploads
from launchers.gateway import gateway_env, start_gateway
from launchers.procs import LoopbackServer
from launchers.redis import RedisServer
from launchers.torchserve import TorchServe

LIMIT = "10/minute"


@pytest.fixture(scope="module")
def limited_gateway(
    torchserve: TorchServe, redis_server: RedisServer, tmp_path_factory
) -> Iterator[LoopbackServer]:
    # Room under the in-flight cap for every batch at once, and Redis's time to answer on a loaded host
    # (past REDIS_TIMEOUT a worker counts in process): the shared windows are under test, not the cap.
    env = gateway_env(torchserve, redis_server.url, RATE_LIMIT=LIMIT, MAX_IN_FLIGHT="64", REDIS_TIMEOUT="2")
    server = start_gateway(tmp_path_factory.mktemp("limited-gateway"), env, workers=2)
    yield server
    server.stop()


def units_spent(redis_server: RedisServer, client: str) -> int:
    """How much of the client's minute ``limits`` itself reads as taken."""

    async def read() -> int:
        theirs = MovingWindowRateLimiter(RedisStorage("async+" + redis_server.url, implementation="redispy"))
        item = parse(LIMIT)
        return item.amount - (await theirs.get_window_stats(item, client)).remaining

    return asyncio.run(read())


async def send_batch(
    client: httpx.AsyncClient, address: str, images: list[bytes], declared: bool
) -> tuple[int, bool, httpx.Response]:
    files = [("files", (f"{i}.jpg", image, "image/jpeg")) for i, image in enumerate(images)]
    params = {"count": len(images)} if declared else {}
    response = await client.post(
        "/api/v1/classify/batch", files=files, params=params, headers={"X-Forwarded-For": address}
    )
    return len(images), declared, response


def test_concurrent_batches_of_one_client_take_exactly_what_the_admitted_ones_cost(
    limited_gateway, redis_server, frames
):
    """Six batches of 3 files, two undeclared batches of 11 (over the window once counted) and two
    declared ones of 11 (over it before their bodies), all at once from one address."""
    address = "198.51.100.70"
    redis_server.client().flushall()
    small = [distinct_uploads(frames, 3, 5000 + 10 * n) for n in range(6)]
    large = [distinct_uploads(frames, 11, 6000 + 20 * n) for n in range(4)]

    async def all_at_once() -> list[tuple[int, bool, httpx.Response]]:
        async with httpx.AsyncClient(base_url=limited_gateway.url, timeout=120) as client:
            sends = [send_batch(client, address, images, declared=False) for images in small]
            sends += [send_batch(client, address, images, declared=n >= 2) for n, images in enumerate(large)]
            return await asyncio.gather(*sends)

    outcomes: Counter[str] = Counter()
    for files, declared, response in asyncio.run(all_at_once()):
        error = response.json().get("error", {}) if response.status_code != 200 else {}
        if files == 11:
            assert response.status_code == 429, response.text  # 11 units: never within 10 a minute
            assert "Retry-After" not in response.headers or error["code"] == "rate_limited"
        if response.status_code == 200:
            outcomes["admitted"] += 1
        elif error["code"] == "cost_exceeds_limit":
            expected = "send fewer files" if declared else "send fewer or smaller images"
            assert error["message"] == (
                f"this batch of 11 files costs 11 units; the limit allows 10 per minute: {expected}"
            )
            outcomes["over the window, declared" if declared else "over the window, counted"] += 1
        else:
            assert error["code"] == "rate_limited", response.text
            counted = error["message"].startswith(f"this batch of {files} files")  # refused once read
            outcomes["refused once read" if counted else "refused before the body"] += 1
    assert outcomes["over the window, declared"] == 2
    assert 1 <= outcomes["admitted"] <= 3
    # A batch refused once its body was read keeps the unit it paid ahead; nothing else stays spent.
    kept = outcomes["refused once read"] + outcomes["over the window, counted"]
    assert units_spent(redis_server, address) == 3 * outcomes["admitted"] + kept <= 10
