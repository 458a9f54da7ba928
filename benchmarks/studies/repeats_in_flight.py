"""Repeats in flight (gateway.coalesce) measured: make bench's 30%-repeats workload (the same uploads,
benchmarks.suite.peers.requests_for) sent to this checkout's gateway, another commit's (before
coalescing) and the plain FastAPI peer, interleaved cell by cell in one run, so that the noise of a
shared machine falls on all three alike; ratios are medians of each round's own.

    python -m benchmarks.studies.repeats_in_flight --ref main --rounds 3 --run runs/demo

Each gateway has one worker and its own Redis, behind its own nginx, over one TorchServe (the native
stack's shape: `make up` runs one gateway worker per replica); the systems not being measured are
paused (SIGSTOP), as in make bench. Printed and written: images/s per system and concurrency (medians
over rounds), the ratios, and how many requests this checkout's gateway served from a call in flight.
"""

from __future__ import annotations

import signal
import statistics
import tempfile
from itertools import count
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common.images import distinct, run_frames
from benchmarks.common.report import machine, serving_parser, write_json
from benchmarks.gateway_cost.ab import checkout, drop
from benchmarks.suite import peers
from launchers import REPO
from launchers.gateway import gateway_env, start_gateway
from launchers.nginx import start_nginx
from launchers.procs import ManagedProcess
from launchers.redis import RedisServer
from launchers.torchserve import start_torchserve
from nginx.render import EdgeSettings

WORKLOAD = "30% repeats"
OPEN_EDGE = EdgeSettings(limit_rate=100000, limit_burst=100000, limit_conn=1000)


def coalesced(gateway_url: str) -> float:
    """The gateway's gateway_coalesced_requests_total (0 for a gateway without it)."""
    text = httpx.get(f"{gateway_url}/metrics", timeout=10).text
    found = [
        line.split()[-1] for line in text.splitlines() if line.startswith("gateway_coalesced_requests_total")
    ]
    return float(found[0]) if found else 0.0


def measure(
    urls: dict[str, str], procs: dict[str, list[ManagedProcess]], frames: list[bytes], args: Any
) -> dict[str, dict[int, list[float]]]:
    """Images per second of each system at each concurrency, one figure per round."""
    fresh = count(10**14)
    throughput: dict[str, dict[int, list[float]]] = {name: {c: [] for c in args.levels} for name in urls}

    def only(measured: str) -> None:
        for name, group in procs.items():
            for proc in group:
                proc.signal(signal.SIGCONT if name == measured else signal.SIGSTOP)

    for name, url in urls.items():  # warm-up: TorchServe's JVM and every pool
        only(name)
        peers.load(url, [distinct(frames[i % len(frames)], next(fresh)) for i in range(args.warm_up)], 2)
    for _ in range(args.rounds):
        for c in args.levels:
            images = peers.requests_for(WORKLOAD, frames, args.requests, lambda f: distinct(f, next(fresh)))
            for name, url in urls.items():
                only(name)
                _, images_per_second, failed = peers.load(url, images, c)
                if failed:
                    raise SystemExit(f"{name} failed {failed} requests at concurrency {c}")
                throughput[name][c].append(images_per_second)
    for group in procs.values():
        for proc in group:
            proc.signal(signal.SIGCONT)
    return throughput


def table(throughput: dict[str, dict[int, list[float]]], levels: list[int]) -> list[str]:
    """Images/s by system and concurrency (medians over rounds), and the ratios: medians of each round's
    own ratio, the figures of one round having been measured side by side."""
    before, after, fastapi = throughput
    lines = [
        f"| concurrency | {before}: images/s | {after} | {fastapi} | before / FastAPI | after / FastAPI "
        "| after / before |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in levels:
        shown = " | ".join(
            f"{statistics.median(throughput[name][c]):.1f}" for name in (before, after, fastapi)
        )
        pairs = ((before, fastapi), (after, fastapi), (after, before))
        ratios = " | ".join(f"{ratio(throughput[a][c], throughput[b][c]):.2f}x" for a, b in pairs)
        lines.append(f"| {c} | {shown} | {ratios} |")
    return lines


def ratio(ours: list[float], theirs: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(ours, theirs, strict=True))


def main() -> None:
    parser = serving_parser(__doc__.split("\n")[0], "repeats_in_flight.json", rounds=3)
    parser.add_argument("--ref", default="main", help="the commit to compare with (default main)")
    parser.add_argument("--requests", type=int, default=48, help="requests per cell (make bench's 48)")
    parser.add_argument("--concurrency", default="1,2,4,8")
    parser.add_argument("--warm-up", type=int, default=60)
    args = parser.parse_args()
    args.levels = [int(c) for c in args.concurrency.split(",")]
    frames = run_frames(args.run, 24)
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory(prefix="fromsoft-web-") as web:
        web_root = Path(web)  # nginx's unprivileged worker must read it; only /api/ is asked for here
        web_root.chmod(0o755)
        work = Path(tmp)
        before = checkout(args.ref, work / "before")
        torchserve = start_torchserve(args.model_store.resolve(), work / "ts")
        running: list[Any] = [torchserve]
        try:
            urls: dict[str, str] = {}
            procs: dict[str, list[ManagedProcess]] = {}
            gateways: dict[str, Any] = {}
            for name, source in ((f"before ({args.ref})", before), ("this checkout", REPO)):
                (work / f"redis-{len(urls)}").mkdir()
                redis = RedisServer(work / f"redis-{len(urls)}").start()
                env = gateway_env(torchserve, redis.url, RATE_LIMIT="1000000/minute")
                gateway = start_gateway(work / f"gateway-{len(urls)}", env, workers=1, source=source)
                edge = start_nginx(work, gateway.port, web_root, OPEN_EDGE)
                running += [redis, gateway, edge]
                urls[name] = f"{edge.url}/api/v1/classify"
                procs[name] = [gateway.proc]
                gateways[name] = gateway
            fastapi = peers.start_peer(
                "benchmarks.peer_servers.fastapi_app", args.model_store / "fromsoft.mar", work, []
            )
            running.append(fastapi)
            urls["plain FastAPI"] = f"{fastapi.url}/predict"
            procs["plain FastAPI"] = [fastapi.proc]
            throughput = measure(urls, procs, frames, args)
            served_once = coalesced(gateways["this checkout"].url)
        finally:
            for server in reversed(running):
                server.stop()
            drop(before)

    print("\n".join(table(throughput, args.levels)))
    print(f"requests this checkout's gateway served from a call in flight: {served_once:.0f}")
    write_json(
        args.out,
        {
            "machine": machine(),
            "workload": WORKLOAD,
            "requests": args.requests,
            "rounds": args.rounds,
            "throughput": throughput,
            "coalesced": served_once,
        },
    )


if __name__ == "__main__":
    main()
