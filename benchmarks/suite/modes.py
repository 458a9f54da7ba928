"""`make bench`'s first part: the same images answered five ways (MODES: in this process, the stock handler,
ours through TorchServe, and the whole stack missing and hitting its cache), interleaved at each
concurrency so that every way sees the same machine, and a batch beside single requests."""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace

import httpx

from benchmarks.common.archives import stock_archive
from benchmarks.common.images import distinct
from benchmarks.common.memory import PeakMemory
from benchmarks.common.progress import Phases, bar
from benchmarks.common.report import summary
from benchmarks.suite import batch
from launchers.gateway import gateway_env, start_gateway
from launchers.nginx import start_nginx
from launchers.redis import RedisServer
from launchers.torchserve import start_torchserve
from nginx.render import EdgeSettings

MODES = ("limit", "stock", "ours", "miss", "hit")


def in_process_limit(model_dir: Path) -> Callable[[bytes], list[float]]:
    """The handler's decode -> preprocess -> infer -> answer in this process, with its serving form."""
    from handler.fromsoft_handler import FromSoftHandler

    with zipfile.ZipFile(model_dir / "fromsoft.mar") as archive:
        archive.extractall(model_dir / "unpacked")
    unpacked = model_dir / "unpacked"
    manifest = json.loads((unpacked / "MAR-INF" / "MANIFEST.json").read_text())
    context = SimpleNamespace(
        system_properties={"model_dir": str(unpacked)},
        manifest=manifest,
        model_yaml_config={"handler": {"threads": 2}},
    )
    handler = FromSoftHandler()
    handler.initialize(context)
    lock = threading.Lock()  # one model, like one TorchServe worker: inference is serialised

    def run(image: bytes) -> list[float]:
        array = handler.transform(handler.decode({"body": image}))
        with lock:
            logits = handler.infer(array[None])
        handler.answer(logits)
        return [float(v) for v in logits[0]]

    return run


def served_macro_f1(run_dir: Path, classify: Callable[[bytes], list[float]]) -> float | None:
    """Test-split macro-F1 of the served form, through the handler's own functions."""
    import numpy as np

    from inference.labels import LABELS
    from training.data import read_manifest
    from training.metrics import macro_f1

    rows = [r for r in read_manifest(run_dir) if r.split == "test" and r.path.is_file()]
    if not rows:
        return None
    predicted = [int(np.argmax(classify(r.path.read_bytes()))) for r in rows]
    truth = [LABELS.index(r.label) for r in rows]
    return macro_f1(truth, predicted)


def measure(
    call: Callable[[bytes], object], images: list[bytes], concurrency: int
) -> tuple[list[float], float]:
    def one(image: bytes) -> float:
        started = time.perf_counter()
        call(image)
        return (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(one, images))
    return latencies, len(images) / (time.perf_counter() - started)


def poster(client: httpx.Client, url: str, multipart: bool = False) -> Callable[[bytes], None]:
    def call(image: bytes) -> None:
        if multipart:
            response = client.post(url, files={"file": ("shot", image, "application/octet-stream")})
        else:
            response = client.post(url, content=image, headers={"Content-Type": "application/octet-stream"})
        response.raise_for_status()

    return call


def measure_modes_interleaved(
    calls: dict[str, Callable[[bytes], object]],
    groups: dict[str, list[int]],
    pool: list[bytes],
    levels: list[int],
    rounds: int,
) -> dict[str, dict[int, dict]]:
    """Every mode at every concurrency, interleaved round by round so that drift hits all alike."""
    cells: dict[str, dict[int, dict]] = {
        m: {c: {"lat": [], "tput": [], "rss": 0} for c in levels} for m in MODES
    }
    counter = 0
    with bar(rounds * len(levels) * len(MODES), "modes", "cell") as shown:
        for _ in range(rounds):
            for c in levels:
                for mode in MODES:
                    batch = pool
                    if mode == "miss":
                        batch = [distinct(image, counter + i) for i, image in enumerate(pool)]
                        counter += len(pool)
                    with PeakMemory(groups[mode]) as memory:
                        latencies, throughput = measure(calls[mode], batch, c)
                    cell = cells[mode][c]
                    cell["lat"] += latencies
                    cell["tput"].append(throughput)
                    cell["rss"] = max(cell["rss"], memory.peak)
                    shown.update()
    return cells


def hits_at_the_gateway(client: httpx.Client, url: str, pool: list[bytes]) -> tuple[list[float], list[float]]:
    """A hit as a client on the gateway's port sees it (no nginx), and as the gateway times it."""
    at_gateway, inside = [], []
    for image in pool * 3:
        started = time.perf_counter()
        response = client.post(
            f"{url}/api/v1/classify", content=image, headers={"Content-Type": "application/octet-stream"}
        )
        at_gateway.append((time.perf_counter() - started) * 1000)
        inside.append(response.json()["timings_ms"]["total"])
    return at_gateway, inside


def measure_modes(
    args: argparse.Namespace, images: list[bytes], pool: list[bytes], progress: Phases
) -> tuple[dict, dict, dict]:
    """The five modes at every concurrency, the targets they decide, and the batch row."""
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as servers:
        progress.next("servers")
        stack = start_servers(args, Path(tmp), servers)
        ts, edge = stack.ts, stack.edge
        direct = httpx.Client(
            headers=ts.headers("inference"), timeout=120, limits=httpx.Limits(max_connections=16)
        )
        public = httpx.Client(timeout=120, limits=httpx.Limits(max_connections=16))
        limit = in_process_limit(stack.store)
        calls: dict[str, Callable[[bytes], object]] = {
            "limit": limit,
            "stock": poster(direct, f"{ts.inference_url}/predictions/stock"),
            "ours": poster(direct, f"{ts.inference_url}/predictions/fromsoft"),
            "miss": poster(public, f"{edge.url}/api/v1/classify", multipart=True),
            "hit": poster(public, f"{edge.url}/api/v1/classify", multipart=True),
        }
        whole = [ts.proc.pid, stack.gateway.proc.pid, edge.proc.pid, stack.redis.proc.pid]
        groups = {"limit": [], "stock": [ts.proc.pid], "ours": [ts.proc.pid], "miss": whole, "hit": whole}
        progress.next("modes")
        for mode in MODES:  # warm every path up
            measure(calls[mode], images[:4], 1)
        for image in pool:  # the hit mode's bytes, cached once
            calls["hit"](image)
        cells = measure_modes_interleaved(calls, groups, pool, args.levels, args.rounds)
        progress.next("batch")
        at_gateway, inside = hits_at_the_gateway(public, stack.gateway.url, pool)
        batched = batch.measure(edge.url, images, rounds=5 * args.rounds, first=10**14)

    results = {
        mode: {
            str(c): {
                "throughput": statistics.median(cells[mode][c]["tput"]),
                "latency_ms": summary(cells[mode][c]["lat"]),
                "peak_rss_mb": cells[mode][c]["rss"] / 2**20,
            }
            for c in args.levels
        }
        for mode in MODES
    }
    best = {mode: max(r["throughput"] for r in results[mode].values()) for mode in MODES}
    report = args.run / "report.json"
    targets = {
        "ours_vs_stock": best["ours"] / best["stock"],
        "hit_p50_ms_client": results["hit"][str(args.levels[0])]["latency_ms"]["p50"],
        "hit_p50_ms_gateway_port": statistics.median(at_gateway),
        "hit_p50_ms_inside_gateway": statistics.median(inside),
        "macro_f1_trained": json.loads(report.read_text())["macro_f1"] if report.is_file() else None,
        "macro_f1_served": served_macro_f1(args.run, limit),
    }
    if targets["macro_f1_trained"] is not None and targets["macro_f1_served"] is not None:
        targets["macro_f1_points_lost"] = 100 * (targets["macro_f1_trained"] - targets["macro_f1_served"])
    return results, targets, batched


def start_servers(args: argparse.Namespace, work: Path, servers: ExitStack) -> SimpleNamespace:
    """TorchServe with our archive and the stock one, Redis, the gateway and nginx; stopped by ``servers``."""
    store = work / "store"
    store.mkdir()
    shutil.copy(args.model_store / "fromsoft.mar", store / "fromsoft.mar")
    stock_archive(args.run, store)
    redis = RedisServer(work / "redis").start()
    servers.callback(redis.stop)
    ts = start_torchserve(store, work / "ts", models="fromsoft.mar,stock.mar")
    servers.callback(ts.stop)
    env = gateway_env(ts, redis.url, RATE_LIMIT="1000000/minute")
    gateway = start_gateway(work, env, workers=args.gateway_workers)
    servers.callback(gateway.stop)
    web_root = Path(tempfile.mkdtemp(prefix="fromsoft-web-"))
    web_root.chmod(0o755)
    servers.callback(shutil.rmtree, web_root, True)
    edge = start_nginx(work, gateway.port, web_root, EdgeSettings(limit_rate=100000, limit_burst=100000))
    servers.callback(edge.stop)
    return SimpleNamespace(ts=ts, redis=redis, gateway=gateway, edge=edge, store=store)
