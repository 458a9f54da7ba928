"""TorchServe's batching and threads, swept through the whole native stack (make bench).

Each setting is applied to the running stack the way an operator would: the batch size and the longest
wait for a batch to fill by registering the model again with them (`handler.manage register
--batch-size --max-batch-delay`), the worker's inference threads (FROMSOFT_THREADS) by restarting
TorchServe, the workers by scaling. Every setting is then measured on cache misses through nginx at
concurrency 1 and 8, and the best is named by the throughput at 8 among those within 10% of the best
p50 at 1 (a visitor waits alone more often than not).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

import httpx

from benchmarks.images import distinct
from benchmarks.stages import classify_all
from handler.manage import ManagementClient
from launchers.procs import wait_until
from launchers.stack import NativeStack

MODEL = "fromsoft"


@dataclass(frozen=True)
class Setting:
    batch_size: int
    max_batch_delay: int  # ms
    threads: int = 2  # ONNX Runtime intra-op threads per worker
    workers: int = 1

    @property
    def name(self) -> str:
        batching = (
            "no batching"
            if self.batch_size == 1
            else f"batch {self.batch_size} within {self.max_batch_delay} ms"
        )
        return f"{batching}, {self.workers} worker(s) x {self.threads} thread(s)"


# What the sweep tries, the archive's default first; ``--quick`` takes the first two.
SETTINGS = (
    Setting(4, 1),
    Setting(1, 1),
    Setting(2, 1),
    Setting(4, 2),
    Setting(4, 5),
    Setting(8, 2),
    Setting(4, 1, threads=1, workers=2),
)


def apply(native: NativeStack, setting: Setting, current: Setting | None) -> None:
    if current is None or current.threads != setting.threads:
        native.restart("torchserve", FROMSOFT_THREADS=str(setting.threads))
        wait_until(lambda: ready(native), 180, "TorchServe after a restart")
    manager = ManagementClient(native.url("TS_MANAGEMENT_PORT"), native.key_file)
    manager.unregister(MODEL, "1.0")
    manager.register(
        f"{MODEL}.mar",
        workers=setting.workers,
        batch_size=setting.batch_size,
        max_batch_delay=setting.max_batch_delay,
    )
    wait_until(lambda: ready(native), 120, f"the gateway after registering {setting.name}")


def ready(native: NativeStack) -> bool:
    return httpx.get(f"{native.url('GATEWAY_PORT')}/readyz", timeout=5).status_code == 200


def sweep(
    native: NativeStack, frames: list[bytes], settings: tuple[Setting, ...], levels: list[int], requests: int
) -> list[dict[str, Any]]:
    rows, current = [], None
    nonce = 10**9
    for setting in settings:
        apply(native, setting, current)
        current = setting
        warm = [
            distinct(frames[i % len(frames)], nonce + i) for i in range(32)
        ]  # the new worker's first batches
        classify_all(f"{native.web}/api/v1/classify", warm, 4)
        nonce += len(warm)
        row: dict[str, Any] = {"setting": setting.name, **setting.__dict__}
        for c in levels:
            images = [distinct(frames[i % len(frames)], nonce + i) for i in range(requests)]
            nonce += requests
            started = time.perf_counter()
            answers = classify_all(f"{native.web}/api/v1/classify", images, c)
            row[str(c)] = {
                "throughput": requests / (time.perf_counter() - started),
                "p50_ms": statistics.median(ms for ms, _ in answers),
            }
        rows.append(row)
    return rows


def best(rows: list[dict[str, Any]], levels: list[int]) -> dict[str, Any]:
    low, high = str(min(levels)), str(max(levels))
    fastest = min(r[low]["p50_ms"] for r in rows)
    quick_enough = [r for r in rows if r[low]["p50_ms"] <= 1.1 * fastest]
    return max(quick_enough, key=lambda r: r[high]["throughput"])


def markdown(rows: list[dict[str, Any]], levels: list[int]) -> list[str]:
    chosen = best(rows, levels)["setting"]
    head = " | ".join(f"concurrency {c}: images/s, p50 ms" for c in levels)
    lines = [f"| setting | {head} |", "| --- | " + " | ".join("---" for _ in levels) + " |"]
    for r in rows:
        cells = " | ".join(f"{r[str(c)]['throughput']:.1f}, {r[str(c)]['p50_ms']:.1f}" for c in levels)
        mark = " **(chosen)**" if r["setting"] == chosen else ""
        lines.append(f"| {r['setting']}{mark} | {cells} |")
    return lines
