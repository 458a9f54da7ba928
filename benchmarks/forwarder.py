"""The floor for any Python hop in front of TorchServe, as a benchmark baseline: a bare ASGI app under
the same uvicorn options as the gateway that reads the upload and forwards it with aiohttp, with no
validation, cache, rate limit, metrics or framework. What the gateway costs above this is its features.

    FORWARD_URL=http://127.0.0.1:8080/predictions/fromsoft FORWARD_TOKEN=... \\
        python -m benchmarks.forwarder --port 8090 --workers 1
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp

from gateway.server import serve

_session: dict[str, aiohttp.ClientSession] = {}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _session["client"] = aiohttp.ClientSession()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await _session["client"].close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = bytearray()
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = {"Content-Type": "image/jpeg", "Authorization": f"Bearer {os.environ['FORWARD_TOKEN']}"}
    async with _session["client"].post(os.environ["FORWARD_URL"], data=bytes(body), headers=headers) as r:
        status, answer = r.status, await r.read()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer))],
        }
    )
    await send({"type": "http.response.body", "body": answer})


if __name__ == "__main__":
    serve("benchmarks.forwarder:app", "python -m benchmarks.forwarder", "a bare forwarder to TorchServe")
