"""A gateway opens its first connection to Redis as it starts, before any request can trip the breaker
on a slow first connect (compose's fresh network), and starts anyway, within its bound, without one."""

from __future__ import annotations

import asyncio
import time

from gateway.config import Settings
from gateway.services import Services
from launchers.procs import free_port
from launchers.redis import RedisServer


def started(redis_url: str) -> tuple[bool, float, bool]:
    """Whether Services.connect_redis found Redis, how long it took, and whether the breaker stayed shut."""

    async def run() -> tuple[bool, float, bool]:
        services = Services.build(
            Settings(redis_url=redis_url, torchserve_inference_url="http://127.0.0.1:1")
        )
        try:
            began = time.monotonic()
            found = await services.connect_redis(within=1.0)
            return found, time.monotonic() - began, not services.admission.breaker.is_open
        finally:
            await services.close()

    return asyncio.run(run())


def test_the_first_connection_is_open_before_the_first_request(redis_server: RedisServer):
    found, _, closed = started(redis_server.url)
    assert (found, closed) == (True, True)


def test_without_redis_the_gateway_starts_within_the_bound_and_the_breaker_stays_shut():
    found, took, closed = started(f"redis://127.0.0.1:{free_port()}/0")
    assert (found, closed) == (False, True)
    assert took < 3
