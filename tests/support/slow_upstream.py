"""A slow hop between gateways and the real TorchServe, to see how many requests are at the model at once:
``python -m tests.support.slow_upstream --port P --target URL``. TorchServe answers a tiny model in
milliseconds, too fast for requests to overlap on their own; this holds each call ``delay`` seconds
(``POST /_delay?seconds=S``), passes it on unchanged (the gateway's inference key included) and
counts the calls in flight (``GET /_in_flight``: now and the most since ``POST /_reset``)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

HOP_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}


def app(target: str) -> Starlette:
    state: dict[str, Any] = {"delay": 0.0, "now": 0, "most": 0}

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(base_url=target, timeout=60) as client:
            state["client"] = client
            yield

    async def delay(request: Request) -> Response:
        state["delay"] = float(request.query_params["seconds"])
        return JSONResponse({"delay": state["delay"]})

    async def in_flight(_: Request) -> Response:
        return JSONResponse({"now": state["now"], "most": state["most"]})

    async def reset(_: Request) -> Response:
        state["most"] = state["now"]
        return JSONResponse({"most": state["most"]})

    async def forward(request: Request) -> Response:
        state["now"] += 1
        state["most"] = max(state["most"], state["now"])
        try:
            await asyncio.sleep(state["delay"])
            headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
            answer = await state["client"].request(
                request.method, request.url.path, content=await request.body(), headers=headers
            )
        finally:
            state["now"] -= 1
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS}
        return Response(answer.content, status_code=answer.status_code, headers=kept)

    routes = [
        Route("/_delay", delay, methods=["POST"]),
        Route("/_in_flight", in_flight, methods=["GET"]),
        Route("/_reset", reset, methods=["POST"]),
        Route("/{path:path}", forward, methods=["GET", "POST", "PUT", "DELETE"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--target", required=True)
    args = parser.parse_args()
    uvicorn.run(app(args.target), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
