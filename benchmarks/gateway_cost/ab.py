"""The gateway of other commits against this checkout's, interleaved image by image in one run: on a
machine as noisy as ours, only a side-by-side run tells a 0.2 ms change from the weather.

    python -m benchmarks.gateway_cost.ab --ref HEAD~1 --rounds 16

Each gateway (one worker, its own Redis) answers the same frames in turn, each miss paired with a
direct TorchServe call just before it; then each answers them again from its cache. Printed and
written per gateway: the overhead on a miss (median of paired differences) and the hit p50.
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common.images import run_frames
from benchmarks.common.report import machine, serving_parser, summary, write_json
from benchmarks.gateway_cost.latency import KeepAlive, direct_client
from launchers import REPO
from launchers.gateway import gateway_env, start_gateway
from launchers.procs import LoopbackServer
from launchers.redis import RedisServer
from launchers.torchserve import start_torchserve


def checkout(ref: str, where: Path) -> Path:
    """A detached worktree of ``ref`` (removed again by ``drop``)."""
    subprocess.run(["git", "worktree", "add", "--detach", str(where), ref], cwd=REPO, check=True)
    return where


def drop(tree: Path) -> None:
    subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, check=False)


def main() -> None:
    parser = serving_parser(__doc__.split("\n")[0], "gateway_ab.json", rounds=10)
    parser.add_argument("--ref", action="append", default=[], help="a commit to compare (repeatable)")
    args = parser.parse_args()
    images = run_frames(args.run, args.images)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        trees = {ref: checkout(ref, work / f"tree-{n}") for n, ref in enumerate(args.ref)}
        sources = {**trees, "this checkout": REPO}
        torchserve = start_torchserve(args.model_store.resolve(), work / "ts")
        servers: list[LoopbackServer | RedisServer] = []
        try:
            direct = direct_client(torchserve)
            gateways: dict[str, tuple[KeepAlive, RedisServer]] = {}
            for n, (name, source) in enumerate(sources.items()):
                redis = RedisServer(work / f"redis-{n}").start()
                servers.append(redis)
                env = gateway_env(torchserve, redis.url, RATE_LIMIT="100000/minute")
                gateway = start_gateway(work, env, workers=1, source=source)
                servers.append(gateway)
                gateways[name] = (KeepAlive(gateway.port, "/api/v1/classify"), redis)
            for image in images * 2:  # warm-up, as in latency.py
                direct.post(image)
                for client, _ in gateways.values():
                    client.post(image)
            overhead: dict[str, list[float]] = {name: [] for name in gateways}
            hits: dict[str, list[float]] = {name: [] for name in gateways}
            for _ in range(args.rounds):
                for _, redis in gateways.values():
                    redis.client().flushall()
                for image in images:
                    for name, (client, _) in gateways.items():
                        direct_ms = direct.post(image)[0]
                        ms, body = client.post(image)
                        assert body["cached"] is False, name
                        overhead[name].append(ms - direct_ms)
                for image in images:
                    for name, (client, _) in gateways.items():
                        ms, body = client.post(image)
                        assert body["cached"] is True, name
                        hits[name].append(ms)
        finally:
            for server in reversed(servers):
                server.stop()
            torchserve.stop()
            for tree in trees.values():
                drop(tree)

    results: dict[str, Any] = {
        name: {"overhead_p50_ms": statistics.median(overhead[name]), "hit": summary(hits[name])}
        for name in gateways
    }
    print(f"{'gateway':<20}{'miss overhead p50 ms':>22}{'hit p50 ms':>12}")
    for name, r in results.items():
        print(f"{name:<20}{r['overhead_p50_ms']:>22.2f}{r['hit']['p50']:>12.2f}")
    write_json(
        args.out,
        {"machine": machine(), "rounds": args.rounds, "images": len(images), "results": results},
    )


if __name__ == "__main__":
    main()
