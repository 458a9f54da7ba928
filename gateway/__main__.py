"""``python -m gateway``: the gateway under uvicorn, with the server options it is tested and measured
with, in one place for the native stack, the container and the tests."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import uvicorn


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if multiproc_dir := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        Path(multiproc_dir).mkdir(parents=True, exist_ok=True)
    uvicorn.run(
        "gateway.app.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        # Who the client is (X-Forwarded-For) is gateway.client_ip's call, from TRUSTED_PROXIES alone;
        # uvicorn's own proxy-header rewrite would believe any loopback peer before that code runs.
        proxy_headers=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
