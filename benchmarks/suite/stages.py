"""Where one request's time goes, from nginx to the answer (make bench), at a few concurrencies.

Cache misses (every upload distinct) through the native stack. Each stage is a mean per request in ms,
so that the stages add up to the client's mean:

  edge                     client to nginx to the gateway and back: the client's time minus the gateway's
  gateway                  the gateway's own work: its total minus its call to TorchServe
  TorchServe HTTP          the gateway's call minus TorchServe's own latency (sockets, Netty)
  queue and batch delay    TorchServe's queue latency: waiting for a worker and for the batch to fill
  worker round trip        TorchServe's latency minus the queue and the handler: frontend to Python
                           worker and back (TorchServe's protocol, the batch's serialisation)
  decode, preprocess, inference, answer    the handler's own timings (inference is the batch's)

Beside the stages, the CPU each process spent per request (ms of one core): on two shared cores the
throughput at concurrency 8 is bounded by their sum, not by any one stage's wall time.

TorchServe's latencies come from its Prometheus counters (ts_inference_latency_microseconds and
ts_queue_latency_microseconds, read before and after each measurement); the gateway's and the handler's
from the timings in every answer.
"""

from __future__ import annotations

import os
import re
import statistics
from typing import Any

import httpx
import psutil

from benchmarks.common.images import distinct_uploads
from benchmarks.common.process_groups import members
from benchmarks.common.uploads import post_all

STAGES = (
    "edge",
    "gateway",
    "TorchServe HTTP",
    "queue and batch delay",
    "worker round trip",
    "decode",
    "preprocess",
    "inference",
    "answer",
)
COUNTERS = (
    "ts_inference_latency_microseconds",
    "ts_queue_latency_microseconds",
    "ts_inference_requests_total",
)
_COUNTER = re.compile(rf'^({"|".join(COUNTERS)}){{[^}}]*model_name="fromsoft"[^}}]*}}\s+([0-9.eE+-]+)', re.M)


def torchserve_counters(metrics_url: str) -> dict[str, float]:
    text = httpx.get(f"{metrics_url}/metrics", timeout=10).text
    totals = dict.fromkeys(COUNTERS, 0.0)  # TorchServe shows a counter once it has counted something
    for name, value in _COUNTER.findall(text):
        totals[name] += float(value)
    return totals


def classify_all(url: str, images: list[bytes], concurrency: int) -> list[tuple[float, dict[str, Any]]]:
    """(client ms, answer) per upload, ``concurrency`` clients on kept-alive connections."""
    answers = []
    for ms, response in post_all(url, images, concurrency)[0]:
        response.raise_for_status()
        answers.append((ms, response.json()))
    return answers


def cpu_seconds(groups: dict[str, int]) -> dict[str, float]:
    """CPU seconds spent so far by the processes of each named process group, TorchServe's split into
    its Java front end and its Python workers, and by this process (the load generator)."""
    spent = dict.fromkeys([*groups, "load generator"], 0.0)
    spent["load generator"] = sum(psutil.Process().cpu_times()[:2])
    named = {pgid: name for name, pgid in groups.items()}
    for pid, pgid in members(named):
        try:
            proc = psutil.Process(pid)
            name, seconds = named[pgid], sum(proc.cpu_times()[:2])  # user + system
            if name == "torchserve":
                name = "TorchServe front end" if proc.name() == "java" else "TorchServe worker"
        except psutil.Error:
            continue  # gone meanwhile
        spent[name] = spent.get(name, 0.0) + seconds
    spent.pop("torchserve", None)
    return spent


def stage_means(
    web: str,
    metrics_url: str,
    frames: list[bytes],
    concurrency: int,
    requests: int,
    first_nonce: int,
    groups: dict[str, int],
) -> dict[str, Any]:
    """Mean ms per request of every stage, the client's and the inference stage's p50, and the CPU ms
    per request of every process in ``groups`` (name: process group), over ``requests`` distinct
    uploads."""
    images = distinct_uploads(frames, requests, first_nonce)
    before, cpu_before = torchserve_counters(metrics_url), cpu_seconds(groups)
    answers = classify_all(f"{web}/api/v1/classify", images, concurrency)
    after, cpu_after = torchserve_counters(metrics_url), cpu_seconds(groups)
    cpu = {name: 1000 * (cpu_after[name] - cpu_before.get(name, 0.0)) / requests for name in cpu_after}
    served = after["ts_inference_requests_total"] - before["ts_inference_requests_total"]
    ts_total = (
        after["ts_inference_latency_microseconds"] - before["ts_inference_latency_microseconds"]
    ) / 1000
    queue = (after["ts_queue_latency_microseconds"] - before["ts_queue_latency_microseconds"]) / 1000 / served

    def mean(key: str) -> float:
        return statistics.fmean(a["timings_ms"][key] for _, a in answers)

    client = statistics.fmean(ms for ms, _ in answers)
    handler = {k: mean(k) for k in ("decode", "preprocess", "inference", "postprocess")}
    torchserve = ts_total / served
    means = {
        "edge": client - mean("total"),
        "gateway": mean("total") - mean("upstream"),
        "TorchServe HTTP": mean("upstream") - torchserve,
        "queue and batch delay": queue,
        "worker round trip": torchserve - queue - sum(handler.values()),
        "decode": handler["decode"],
        "preprocess": handler["preprocess"],
        "inference": handler["inference"],
        "answer": handler["postprocess"],
    }
    return {
        **means,
        "client mean": client,
        "client p50": statistics.median(ms for ms, _ in answers),
        "inference p50": statistics.median(a["timings_ms"]["inference"] for _, a in answers),
        "cpu_ms": cpu,
    }


def markdown(by_level: dict[int, dict[str, float]]) -> list[str]:
    levels = sorted(by_level)
    lines = [
        "| stage | " + " | ".join(f"concurrency {c}, ms (share)" for c in levels) + " |",
        "| --- | " + " | ".join("---" for _ in levels) + " |",
    ]
    for stage in (*STAGES, "client mean", "client p50"):
        cells = []
        for c in levels:
            value = by_level[c][stage]
            share = f" ({100 * value / by_level[c]['client mean']:.0f}%)" if stage in STAGES else ""
            cells.append(f"{value:.2f}{share}")
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    return lines


def cpu_markdown(by_level: dict[int, dict[str, Any]]) -> list[str]:
    """CPU ms per request by process, and what two cores allow at that cost."""
    levels = sorted(by_level)
    lines = [
        "| process | " + " | ".join(f"concurrency {c}, CPU ms per request" for c in levels) + " |",
        "| --- | " + " | ".join("---" for _ in levels) + " |",
    ]
    for name in by_level[levels[0]]["cpu_ms"]:
        lines.append(f"| {name} | " + " | ".join(f"{by_level[c]['cpu_ms'][name]:.2f}" for c in levels) + " |")
    totals = [sum(by_level[c]["cpu_ms"].values()) for c in levels]
    lines.append("| all | " + " | ".join(f"{t:.2f}" for t in totals) + " |")
    lines.append(
        f"| requests/s {os.cpu_count()} cores allow at that cost | "
        + " | ".join(f"{1000 * (os.cpu_count() or 1) / t:.0f}" for t in totals)
        + " |"
    )
    return lines
