"""uvicorn with the server options the gateway is tested and measured with, in one place for the native
stack, the container, the tests and the benchmark's bare forwarder."""

from __future__ import annotations

import argparse

import uvicorn

from gateway.config import get_settings
from gateway.logs import LOG_CONFIG


def serve(app: str, prog: str, description: str) -> None:
    """Run ``app`` (an import string) with ``--host``, ``--port`` and ``--workers`` from the command line."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="uvicorn worker processes (default 1: a serving unit scales by replicas)",
    )
    args = parser.parse_args()
    if (multiproc_dir := get_settings().prometheus_multiproc_dir) is not None:
        multiproc_dir.mkdir(parents=True, exist_ok=True)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        access_log=False,  # the gateway writes its own, one JSON line per request (gateway.observability)
        log_config=LOG_CONFIG,
        # Who the client is (X-Forwarded-For) is gateway.client_ip's call, from TRUSTED_PROXIES alone;
        # uvicorn's own proxy-header rewrite would believe any loopback peer before that code runs.
        proxy_headers=False,
        server_header=False,
        # Longer than nginx's upstream keepalive_timeout (60 s): the proxy closes idle connections first.
        timeout_keep_alive=65,
    )
