"""Our stack beside the other ways to serve the same model, in one run (make bench).

  ours      the native stack as `make up` runs it (nginx, the gateway with its cache, TorchServe with our
            handler), through nginx
  litserve  LitServe serving the same ONNX model in-process, batching on
            (benchmarks/peer_servers/litserve_app.py)
  fastapi   a plain FastAPI app with the model in its process (benchmarks/peer_servers/fastapi_app.py)

All three decode, preprocess and answer with the same functions (benchmarks/peer_servers/model.py), so the
comparison measures the serving machinery. Two workloads: every image distinct, and a realistic mix in
which 30% of the requests send an image sent before (our cache answers those; the peers have none).
Each system is measured at concurrency 1, 2, 4 and 8, interleaved round by round with the others, and
the peers not being measured are paused (SIGSTOP) so that their idle loops cost the others nothing.
"""

from __future__ import annotations

import random
import shutil
import signal
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx

from benchmarks.common.images import distinct
from benchmarks.common.memory import PeakMemory
from benchmarks.common.progress import bar
from benchmarks.common.report import summary
from benchmarks.common.uploads import post_all
from benchmarks.suite import footprint
from launchers import REPO
from launchers.procs import LoopbackServer, ManagedProcess, free_port, wait_until
from launchers.stack import UNLIMITED, NativeStack

SYSTEMS = ("ours", "litserve", "fastapi")
WORKLOADS = ("distinct", "30% repeats")
REPEAT_SHARE = 0.3


def start_peer(module: str, archive: Path, work: Path, extra: list[str]) -> LoopbackServer:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        module,
        "--archive",
        str(archive),
        "--work",
        str(work / module),
        "--port",
        str(port),
    ]
    server = LoopbackServer(ManagedProcess([*argv, *extra], work / f"{module}.log", cwd=REPO), port)
    health = "/health" if "litserve" in module else "/docs"
    wait_until(lambda: httpx.get(server.url + health, timeout=2).status_code == 200, 120, module, server.proc)
    return server


@contextmanager
def systems(
    archive: Path, work: Path, batch: int, delay_ms: float, first_image: bytes
) -> Iterator[SimpleNamespace]:
    """The three systems running, with the URL each classifies at, the peers' processes, each system's
    process groups (ours: replica 1's serving unit) and the seconds from its start to its answer to
    ``first_image``."""
    with ExitStack() as stack:
        store = work / "store"
        store.mkdir()
        shutil.copy(archive, store / "fromsoft.mar")
        native = NativeStack(work / "var", store, **UNLIMITED)
        stack.callback(native.down)
        urls, started, servers = {"ours": f"{native.web}/api/v1/classify"}, {}, {}
        begun = time.perf_counter()
        native.up()
        started["ours"] = footprint.seconds_to_first_answer(urls["ours"], first_image, begun)
        for system, module, extra in (
            (
                "litserve",
                "benchmarks.peer_servers.litserve_app",
                ["--batch", str(batch), "--delay-ms", str(delay_ms)],
            ),
            ("fastapi", "benchmarks.peer_servers.fastapi_app", []),
        ):
            begun = time.perf_counter()
            servers[system] = start_peer(module, archive, work, extra)
            stack.callback(servers[system].stop)
            urls[system] = f"{servers[system].url}/predict"
            started[system] = footprint.seconds_to_first_answer(urls[system], first_image, begun)
        yield SimpleNamespace(
            native=native,
            urls=urls,
            peers={system: server.proc for system, server in servers.items()},
            groups={
                "ours": [native.pid(component) for component in footprint.UNIT],
                **{system: [server.proc.pid] for system, server in servers.items()},
            },
            started=started,
        )


def pause_others(peers: dict[str, ManagedProcess], measured: str) -> None:
    for name, proc in peers.items():
        proc.signal(signal.SIGCONT if name == measured else signal.SIGSTOP)


def requests_for(
    workload: str, frames: list[bytes], count: int, fresh: Callable[[bytes], bytes]
) -> list[bytes]:
    """``count`` uploads: all never sent before, or 30% of them repeats of earlier ones in the run."""
    rng = random.Random(count)
    sent: list[bytes] = []
    for i in range(count):
        if workload != "distinct" and sent and rng.random() < REPEAT_SHARE:
            sent.append(rng.choice(sent))
        else:
            sent.append(fresh(frames[i % len(frames)]))
    return sent


def load(url: str, images: list[bytes], concurrency: int) -> tuple[list[float], float, int]:
    """Latencies (ms), images per second and failed requests, ``concurrency`` clients at once."""
    outcomes, throughput = post_all(url, images, concurrency)
    failed = sum(1 for _, response in outcomes if response.status_code != 200)
    return [ms for ms, _ in outcomes], throughput, failed


def compare(
    running: SimpleNamespace,
    frames: list[bytes],
    levels: list[int],
    rounds: int,
    requests: int,
    warm_up: int = 60,
) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    """results[workload][system][concurrency] = throughput, latency summary, failures, peak RSS."""
    counter = iter(range(1 << 40))
    cells: dict[str, dict[str, dict[int, dict[str, Any]]]] = {
        w: {s: {c: {"lat": [], "tput": [], "failed": 0, "rss": 0} for c in levels} for s in SYSTEMS}
        for w in WORKLOADS
    }
    urls, peers = running.urls, running.peers
    for system in SYSTEMS:  # warm-up: TorchServe's JVM needs dozens of requests, every pool some
        pause_others(peers, system)
        load(urls[system], [distinct(frames[i % len(frames)], next(counter)) for i in range(warm_up)], 2)
    with bar(rounds * len(WORKLOADS) * len(levels) * len(SYSTEMS), "systems", "cell") as shown:
        for _ in range(rounds):
            for workload in WORKLOADS:
                for c in levels:
                    # The same uploads for every system; fresh bytes each round: nothing cached before.
                    images = requests_for(workload, frames, requests, lambda f: distinct(f, next(counter)))
                    for system in SYSTEMS:
                        pause_others(peers, system)
                        with PeakMemory(running.groups[system]) as memory:
                            latencies, throughput, failed = load(urls[system], images, c)
                        cell = cells[workload][system][c]
                        cell["rss"] = max(cell["rss"], memory.peak)
                        cell["lat"] += latencies
                        cell["tput"].append(throughput)
                        cell["failed"] += failed
                        shown.update()
    for proc in peers.values():
        proc.signal(signal.SIGCONT)
    return {
        w: {
            s: {
                str(c): {
                    "throughput": statistics.median(cells[w][s][c]["tput"]),
                    "latency_ms": summary(cells[w][s][c]["lat"]),
                    "failed": cells[w][s][c]["failed"],
                    "peak_rss_mb": cells[w][s][c]["rss"] / 2**20,
                }
                for c in levels
            }
            for s in SYSTEMS
        }
        for w in WORKLOADS
    }


def ratios(results: dict, levels: list[int]) -> dict[str, dict[str, dict[str, float]]]:
    """Our throughput over each peer's, by workload and concurrency."""
    return {
        w: {
            peer: {
                str(c): results[w]["ours"][str(c)]["throughput"] / results[w][peer][str(c)]["throughput"]
                for c in levels
            }
            for peer in ("litserve", "fastapi")
        }
        for w in WORKLOADS
    }


def markdown(results: dict, levels: list[int]) -> list[str]:
    lines = [
        "| workload | concurrency | ours: images/s (p50 / p99 ms) | LitServe | plain FastAPI "
        "| ours / LitServe | ours / FastAPI |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    rel = ratios(results, levels)
    for w in WORKLOADS:
        for c in levels:
            shown = []
            for system in SYSTEMS:
                r = results[w][system][str(c)]
                shown.append(
                    f"{r['throughput']:.1f} ({r['latency_ms']['p50']:.1f} / {r['latency_ms']['p99']:.1f})"
                )
            against = [f"{rel[w][peer][str(c)]:.2f}x" for peer in ("litserve", "fastapi")]
            lines.append(f"| {w} | {c} | {' | '.join(shown)} | {' | '.join(against)} |")
    return lines
