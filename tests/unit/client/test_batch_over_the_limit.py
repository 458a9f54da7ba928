"""The folder CLI against a batch that costs more than the client's limit ever allows (a 429
``cost_exceeds_limit``, without Retry-After): it fails that batch at once instead of waiting and sending
it again. httpx's mock transport stands in for the gateway, whose side is
tests/unit/gateway/test_batch_rules.py."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import httpx
import pytest
from PIL import Image

from client.api import Lens, RefusedError
from client.files import inspect

MESSAGE = "this batch of 2 files costs 4 units; the limit allows 3 per minute: send fewer or smaller images"


def test_a_batch_that_costs_more_than_the_limit_fails_at_once_in_the_apis_words(tmp_path: Path):
    asked: list[httpx.Request] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        return httpx.Response(429, json={"error": {"code": "cost_exceeds_limit", "message": MESSAGE}})

    image = tmp_path / "shot.jpg"
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), (90, 20, 20)).save(buffer, "JPEG")
    image.write_bytes(buffer.getvalue())
    found = inspect(image, 10**6)

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(gateway)) as client:
            await Lens("http://lens", client).classify([(found, image.read_bytes())] * 2, 3)

    with pytest.raises(RefusedError) as refused:
        asyncio.run(run())
    assert (refused.value.code, refused.value.message) == ("cost_exceeds_limit", MESSAGE)
    assert len(asked) == 1  # never sent again: no wait would let it through
