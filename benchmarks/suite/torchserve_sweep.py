"""TorchServe's batching and threads, swept through the whole native stack (make bench).

Each setting is applied to the running stack the way an operator would: the batch size, the longest wait
for a batch to fill and the workers by declaring a new version with them (`ops.models apply`: the
replica registers it, makes it the default once READY and unregisters the one before), the worker's
inference threads (FROMSOFT_THREADS) by restarting TorchServe (and whether ONNX Runtime's threads spin
between runs, FROMSOFT_SPIN_WAIT). Every setting is then measured on cache misses through nginx at
concurrency 1 and 8, and the best is named by the throughput at 8 among those within 20% of the best
p50 at 1 (a visitor waits alone more often than not, but a burst should not queue for long). What each
setting gave last is in BENCHMARKS.md, The whole stack (TorchServe's batching and threads); the levers
it decided, with the runs that measured them, in docs/performance-log.md, The whole stack: what was
changed for speed, and what each gave.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common.archives import MODEL, new_archive
from benchmarks.common.images import distinct_uploads
from benchmarks.common.progress import bar
from benchmarks.suite.stages import classify_all
from inference.session_options import SPIN_WAIT
from launchers.procs import wait_until
from launchers.stack import NativeStack
from ops.declared import DeclaredState, ModelSpec, VersionSpec, render


@dataclass(frozen=True)
class Setting:
    batch_size: int
    max_batch_delay: int  # ms
    threads: int = 2  # ONNX Runtime intra-op threads per worker
    workers: int = 1
    spin_wait: bool = SPIN_WAIT  # ONNX Runtime's threads spin between runs

    @property
    def name(self) -> str:
        if self.batch_size == 1:
            batching = "no batching"
        elif self.max_batch_delay == 0:
            batching = f"batch {self.batch_size}, no wait"
        else:
            batching = f"batch {self.batch_size} within {self.max_batch_delay} ms"
        shipped = "" if self.archivable else " (register only)"
        spinning = ", spinning between runs" if self.spin_wait else ""
        return f"{batching}, {self.workers} worker(s) x {self.threads} thread(s){spinning}{shipped}"

    @property
    def archivable(self) -> bool:
        return self.max_batch_delay > 0

    @property
    def runtime(self) -> dict[str, str]:
        return runtime(self.threads, self.spin_wait)


REGISTERED_WARM_UP = 32  # requests after registering a setting (a new worker; a new JVM takes warm_up)


def runtime(threads: int, spin_wait: bool = SPIN_WAIT) -> dict[str, str]:
    """What TorchServe runs the handler with (a change needs a restart)."""
    return {"FROMSOFT_THREADS": str(threads), "FROMSOFT_SPIN_WAIT": str(int(spin_wait))}


# What the sweep tries, the archive's default first and the ones that restart TorchServe last; ``--quick``
# takes the first two. A delay of 0 ms takes only what is queued, and TorchServe 0.12 then stops at a
# batch of 2 (its loop ends once the delay left is 0); it takes 0 from the register call only: in an
# archive's model config it reads 0 as unset and waits its default 100 ms, so no archive can ship it.
SETTINGS = (
    Setting(4, 1),
    Setting(1, 1),
    Setting(4, 0),
    Setting(2, 1),
    Setting(4, 2),
    Setting(4, 5),
    Setting(8, 2),
    Setting(4, 1, threads=1, workers=2),
    Setting(4, 1, spin_wait=True),
)


def apply(native: NativeStack, setting: Setting, running: dict[str, str], version: str) -> bool:
    """Serves the model as ``version`` with ``setting``; True when TorchServe had to restart for its
    threads (``running``: the runtime settings TorchServe runs with now)."""
    restarted = setting.runtime != running
    if restarted:
        native.restart("torchserve-1", **setting.runtime)
        wait_until(lambda: ready(native), 180, "TorchServe after a restart")
    store = Path(native.env["MODEL_STORE"])
    spec = VersionSpec(
        archive=new_archive(store, store / f"{MODEL}.mar", version),
        workers=setting.workers,
        batch_size=setting.batch_size,
        max_batch_delay=setting.max_batch_delay,
    )
    wanted = store / "sweep.yaml"
    wanted.write_text(
        render(DeclaredState(models={MODEL: ModelSpec(default=version, versions={version: spec})}))
    )
    native.models("apply", str(wanted))  # returns once the replica serves it
    wait_until(lambda: ready(native), 120, f"the gateway after declaring {setting.name}")
    return restarted


def restarts(settings: tuple[Setting, ...], threads: int, passes: int) -> int:
    """How many of the sweep's changes restart TorchServe, from ``threads`` (each a new JVM to warm up)."""
    running, count = runtime(threads), 0
    for setting in settings * passes:
        count += setting.runtime != running
        running = setting.runtime
    return count


def ready(native: NativeStack) -> bool:
    return httpx.get(f"{native.url('GATEWAY_PORT')}/readyz", timeout=5).status_code == 200


def sweep(
    native: NativeStack,
    frames: list[bytes],
    settings: tuple[Setting, ...],
    levels: list[int],
    requests: int,
    *,
    threads: int,
    warm_up: int,
    passes: int = 2,
) -> list[dict[str, Any]]:
    """Every setting measured in each of ``passes`` passes (the machine's drift spread over all of them):
    throughput the mean of the passes, p50 over all their requests. ``threads``: what TorchServe runs
    with now; ``warm_up``: requests after a restart (a new JVM), REGISTERED_WARM_UP after registering."""
    url = f"{native.web}/api/v1/classify"
    nonce = 10**9
    running = runtime(threads)
    versions = (f"sweep-{n}" for n in range(passes * len(settings)))

    def fresh(count: int) -> list[bytes]:
        nonlocal nonce
        nonce += count
        return distinct_uploads(frames, count, nonce)

    measured: dict[Setting, dict[int, tuple[list[float], list[float]]]] = {
        s: {c: ([], []) for c in levels} for s in settings
    }
    with bar(passes * len(settings), "settings", "setting") as shown:
        for _ in range(passes):
            for setting in settings:
                shown.set_postfix_str(setting.name, refresh=False)
                restarted = apply(native, setting, running, next(versions))
                running = setting.runtime
                classify_all(url, fresh(warm_up if restarted else REGISTERED_WARM_UP), 4)
                for c in levels:
                    started = time.perf_counter()
                    answers = classify_all(url, fresh(requests), c)
                    throughputs, latencies = measured[setting][c]
                    throughputs.append(requests / (time.perf_counter() - started))
                    latencies += [ms for ms, _ in answers]
                shown.update()
    rows = []
    for setting, by_level in measured.items():
        row: dict[str, Any] = {"setting": setting.name, **setting.__dict__}
        for c, (throughputs, latencies) in by_level.items():
            p50 = statistics.median(latencies)
            row[str(c)] = {"throughput": statistics.fmean(throughputs), "p50_ms": p50}
        rows.append(row)
    return rows


def best(rows: list[dict[str, Any]], levels: list[int]) -> dict[str, Any]:
    """Among the settings an archive can ship."""
    low, high = str(min(levels)), str(max(levels))
    rows = [r for r in rows if r["max_batch_delay"] > 0]
    fastest = min(r[low]["p50_ms"] for r in rows)
    quick_enough = [r for r in rows if r[low]["p50_ms"] <= 1.2 * fastest]
    return max(quick_enough, key=lambda r: r[high]["throughput"])


def markdown(rows: list[dict[str, Any]], levels: list[int]) -> list[str]:
    chosen = best(rows, levels)["setting"]
    head = " | ".join(f"concurrency {c}: images/s, p50 ms" for c in levels)
    lines = [f"| setting | {head} |", "| --- | " + " | ".join("---" for _ in levels) + " |"]
    for r in rows:
        cells = " | ".join(f"{r[str(c)]['throughput']:.1f}, {r[str(c)]['p50_ms']:.1f}" for c in levels)
        mark = " **(best in this run)**" if r["setting"] == chosen else ""
        mark += " (the archive's default)" if r["setting"] == SETTINGS[0].name else ""
        lines.append(f"| {r['setting']}{mark} | {cells} |")
    return lines
