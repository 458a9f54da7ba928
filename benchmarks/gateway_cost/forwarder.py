"""The floor for any Python hop in front of TorchServe, as a benchmark baseline: a bare ASGI app under
the same uvicorn options as the gateway that reads the upload and forwards it over the gateway's own
upstream connections (gateway.http_pool), with no validation, cache, rate limit, metrics or framework.
What the gateway costs above this is its features.

    FORWARD_URL=http://127.0.0.1:8080/predictions/fromsoft FORWARD_TOKEN=... \\
        python -m benchmarks.gateway_cost.forwarder --port 8090 --workers 1
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from gateway.http_pool import HttpPool
from gateway.server import serve

_pool: dict[str, HttpPool] = {}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    target = urlsplit(os.environ["FORWARD_URL"])
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _pool["upstream"] = HttpPool(f"http://{target.netloc}", 1, 60)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await _pool["upstream"].close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = bytearray()
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = {"Content-Type": "image/jpeg", "Authorization": f"Bearer {os.environ['FORWARD_TOKEN']}"}
    answer = await _pool["upstream"].request("POST", target.path, (bytes(body),), headers)
    length = b"%d" % len(answer.body)
    await send(
        {
            "type": "http.response.start",
            "status": answer.status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", length)],
        }
    )
    await send({"type": "http.response.body", "body": answer.body})


if __name__ == "__main__":
    module = "benchmarks.gateway_cost.forwarder"
    serve(f"{module}:app", f"python -m {module}", "a bare forwarder to TorchServe")
