"""`make bench`: the stack against its limit and its peers, side by side in one run.

Five ways of answering the same images with the same model:
  limit   decode, preprocess and forward in this process, no server (the handler's own functions)
  stock   TorchServe's stock image_classifier handler
  ours    our handler through TorchServe's inference API
  miss    the whole stack through nginx and the gateway, distinct image bytes (cache misses)
  hit     the whole stack, the same bytes again (cache hits)
each at concurrency 1, 2, 4 and 8: throughput, latency p50/p95/p99, and peak RSS of the serving
processes; and on the same stack a batch of 8 distinct images against 8 single requests
(batch.py beside this file). Then, on the native stack as `make up` runs it: our stack beside LitServe
and a plain FastAPI app serving the same model (peers.py) with what one more replica of each costs in
memory and start-up (footprint.py), where one request's time goes (stages.py),
TorchServe's batching and threads swept (torchserve_sweep.py); and the serving forms, int8 beside
float32, in this process (forms.py). Medians over rounds; ratios from this one run; the verdicts against
the targets in targets.py. Writes artifacts/bench/stack.json and the section of BENCHMARKS.md between
its bench markers.

    .venv/bin/python -m benchmarks.suite.run [--rounds 3] [--requests 48] [--quick]
"""

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
from typing import Any

import httpx
import yaml

from benchmarks.common.archives import stock_archive
from benchmarks.common.images import distinct, distinct_uploads, run_frames, screenshot_groups
from benchmarks.common.memory import PeakMemory
from benchmarks.common.progress import Phase, Phases, bar
from benchmarks.common.report import machine, replace_section, summary, write_json
from benchmarks.suite import batch, footprint, forms, inference_alone, peers, phases, stages, torchserve_sweep
from benchmarks.suite.targets import verdicts
from handler.settings import ServingSettings
from launchers import REPO
from launchers.gateway import gateway_env, start_gateway
from launchers.nginx import start_nginx
from launchers.redis import RedisServer
from launchers.torchserve import start_torchserve
from nginx.render import EdgeSettings
from training.export import SERIALIZED_FILES

MODES = ("limit", "stock", "ours", "miss", "hit")
PEER_NAMES = {"ours": "ours (one serving unit)", "litserve": "LitServe", "fastapi": "plain FastAPI"}
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


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
    call: Callable[[bytes], None], images: list[bytes], concurrency: int
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


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--run", type=Path, default=REPO / "runs" / "demo", help="the exported run (for the stock form)"
    )
    parser.add_argument("--model-store", type=Path, default=REPO / "model_store")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=48, help="requests per measurement (default 48)")
    parser.add_argument("--concurrency", default="1,2,4,8")
    parser.add_argument("--gateway-workers", type=int, default=2, help="uvicorn workers (default 2)")
    parser.add_argument(
        "--quick", action="store_true", help="1 round, 8 requests, concurrency 1 and 4, 2 settings"
    )
    parser.add_argument("--out", type=Path, default=REPO / "artifacts" / "bench" / "stack.json")
    parser.add_argument(
        "--stage-requests",
        type=int,
        default=200,
        help="requests per stage measurement and sweep cell (default 200: CPU time counts in 10 ms ticks)",
    )
    parser.add_argument(
        "--sweep-settings",
        type=int,
        default=len(torchserve_sweep.SETTINGS),
        help="TorchServe settings to sweep",
    )
    parser.add_argument("--sweep-passes", type=int, default=2, help="passes over the settings (default 2)")
    parser.add_argument(
        "--warm-up", type=int, default=400, help="requests warming the native stack up (default 400)"
    )
    parser.add_argument("--no-markdown", action="store_true", help="do not rewrite BENCHMARKS.md")
    args = parser.parse_args()
    if args.quick:
        quick = {
            "rounds": 1,
            "requests": 8,
            "concurrency": "1,4",
            "stage_requests": 16,
            "sweep_settings": 2,
            "sweep_passes": 1,
        }
        vars(args).update(quick, warm_up=40)
    args.levels = [int(c) for c in args.concurrency.split(",")]
    if not (args.model_store / "fromsoft.mar").is_file() or not (args.run / "serving").is_dir():
        raise SystemExit(
            "bench: needs model_store/fromsoft.mar and runs/demo/serving (make demo or make train-demo "
            "and make archive first)"
        )
    return args


def image_set(run: Path) -> tuple[list[bytes], str]:
    """The images measured, and a caption that says what they are."""
    real = screenshot_groups()  # notes it when ../shared/screenshots is absent: they are optional
    synthetic = run_frames(run, 12)  # exits with what is missing: every part of the bench sends them
    large = real["real 1080p"][:6] + real["real 4K"][:6]
    caption = f"{len(synthetic)} synthetic 640x360 frames"
    if large:
        caption += f" and {len(large)} real 1080p and 4K screenshots, mixed"
    else:
        caption += " (no real screenshots: ../shared/screenshots is absent)"
    return synthetic + large, caption


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
        whole = [ts.proc.pid, stack.gateway.proc.pid, edge.proc.pid, stack.redis.proc.pid]  # type: ignore[union-attr]
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


def archived_serving(archive: Path) -> tuple[int, float, int]:
    """The batch size and delay the archive configures TorchServe with (so that LitServe batches alike),
    and the handler's inference threads."""
    with zipfile.ZipFile(archive) as mar:
        config = yaml.safe_load(mar.read("model-config.yaml"))
    threads = ServingSettings.load(config.get("handler"), env={}).threads
    return int(config["batchSize"]), float(config["maxBatchDelay"]), threads


def measure_against_peers(args: argparse.Namespace, frames: list[bytes], progress: Phases) -> dict[str, Any]:
    """Where a request's time goes, our stack beside LitServe and plain FastAPI, and TorchServe's
    settings swept, all on one running native stack (the sweep last: it changes the stack)."""
    archive = args.model_store / "fromsoft.mar"
    batch, delay, threads = archived_serving(archive)
    stage_levels = sorted({min(args.levels), max(args.levels)})
    progress.next("systems")
    with (
        tempfile.TemporaryDirectory() as tmp,
        peers.systems(archive, Path(tmp), batch, delay, distinct(frames[0], 10**15)) as running,
    ):
        native = running.native
        idle = footprint.idle(running.groups)
        metrics = native.url("TS_METRICS_PORT")
        # The peers idle stopped: LitServe's workers poll their queues and took 0.6 ms from every inference.
        peers.pause_others(running.peers, "ours")
        progress.next("stages")
        # Warm-up: TorchServe's JVM keeps getting faster for several hundred requests.
        warm = distinct_uploads(frames, args.warm_up, 10**12)
        stages.classify_all(f"{native.web}/api/v1/classify", warm, 4)
        # Replica 1's serving unit: the native stack names its components by replica (launchers.stack).
        components = {
            "nginx": "nginx",
            "gateway": "gateway-1",
            "redis": "redis",
            "torchserve": "torchserve-1",
        }
        groups = {name: native.pid(component) for name, component in components.items()}
        by_stage = {
            c: stages.stage_means(native.web, metrics, frames, c, args.stage_requests, 10**13 * c, groups)
            for c in stage_levels
        }
        low = by_stage[min(stage_levels)]
        alone = inference_alone.session_alone(
            served_model(args.run), threads, (low["client p50"] - low["inference p50"]) / 1000
        )
        progress.next("peers")
        against = peers.compare(running, frames, args.levels, args.rounds, args.requests, args.warm_up // 2)
        peers.pause_others(running.peers, "ours")
        progress.next("sweep")
        settings = torchserve_sweep.SETTINGS[: args.sweep_settings]
        swept = torchserve_sweep.sweep(
            native,
            frames,
            settings,
            stage_levels,
            args.stage_requests,
            threads=threads,
            warm_up=args.warm_up,
            passes=args.sweep_passes,
        )
    peak = {
        system: max(
            cell["peak_rss_mb"] for workload in against.values() for cell in workload[system].values()
        )
        for system in peers.SYSTEMS
    }
    return {
        "stages": by_stage,
        "alone": alone,
        "peers": against,
        "footprint": {"start_s": running.started, "idle": idle, "peak_mb": peak},
        "sweep": swept,
        "stage_levels": stage_levels,
    }


def served_model(run: Path) -> Path:
    """The ONNX file export shipped (the handler's session)."""
    form = forms.shipped(run).get("shipped", "onnx")
    return run / "serving" / SERIALIZED_FILES[form if form.startswith("onnx") else "onnx"]


def main() -> None:
    args = parse_args()
    images, caption = image_set(args.run)  # exits first when the frames are missing: says what to run
    pool = [images[i % len(images)] for i in range(args.requests)]
    with Phases("bench", schedule(args)) as progress:
        results, targets, batched = measure_modes(args, images, pool, progress)
        frames = run_frames(args.run, 24)
        beside = measure_against_peers(args, frames, progress)
        progress.next("forms")
        form_results = forms.measure_forms(args.run)
    targets.update(peer_targets(beside, args))
    table = render_table(results, args.levels, targets, args, caption)
    table += "\n\n" + "\n".join([*batch.markdown(batched), "", *sections(beside, form_results, args)])
    print(table)
    payload = {
        "machine": machine(),
        "images": len(images),
        "caption": caption,
        "requests": args.requests,
        "rounds": args.rounds,
        "results": results,
        "targets": targets,
        "batch": batched,
        **beside,
        "forms": form_results,
    }
    write_json(args.out, payload)
    if not args.no_markdown:
        update_markdown(REPO / "BENCHMARKS.md", table)


def schedule(args: argparse.Namespace) -> dict[str, Phase]:
    """The phases this run goes through (benchmarks.suite.phases), for its progress on standard error."""
    settings = torchserve_sweep.SETTINGS[: args.sweep_settings]
    threads = archived_serving(args.model_store / "fromsoft.mar")[2]
    restarts = torchserve_sweep.restarts(settings, threads, args.sweep_passes)
    return phases.plan(args, len(settings), restarts)


def peer_targets(beside: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The figures measured on the native stack beside its peers that benchmarks.suite.targets decides on:
    what one more replica costs, our throughput against plain FastAPI's and LitServe's, our p50 against
    LitServe's, and the worker's inference against the same session alone."""
    results, low, high = beside["peers"], str(min(args.levels)), str(max(args.levels))
    ratio = peers.ratios(results, args.levels)
    worker_ms = beside["stages"][min(beside["stage_levels"])]["inference p50"]
    cost = beside["footprint"]
    above_low = [r for c, r in ratio["30% repeats"]["fastapi"].items() if c != low]
    return {
        "unit_idle_rss_mb": sum(cost["idle"]["ours"].values()),
        "unit_peak_rss_mb": cost["peak_mb"]["ours"],
        "start_to_first_answer_s": cost["start_s"]["ours"],
        "repeats_vs_fastapi_at_min": ratio["30% repeats"]["fastapi"][low],
        "repeats_vs_fastapi_above_min": min(above_low) if above_low else None,
        "distinct_vs_fastapi_at_max": ratio["distinct"]["fastapi"][high],
        "repeats_vs_litserve_min": min(ratio["30% repeats"]["litserve"].values()),
        "distinct_vs_litserve_at_max": ratio["distinct"]["litserve"][high],
        "p50_vs_litserve_at_min": results["distinct"]["ours"][low]["latency_ms"]["p50"]
        / results["distinct"]["litserve"][low]["latency_ms"]["p50"],
        "inference_in_worker_vs_paced": worker_ms / beside["alone"]["paced_p50"],
        "inference_in_worker_vs_tight": worker_ms / beside["alone"]["tight_p50"],
    }


def sections(beside: dict[str, Any], form_results: dict[str, Any], args: argparse.Namespace) -> list[str]:
    low, high = min(args.levels), max(args.levels)
    return [
        "### Against its peers",
        "",
        f"Synthetic 640x360 frames, {args.requests} requests per cell, {args.rounds} round(s), interleaved; "
        "`benchmarks/suite/peers.py` says how each peer is run.",
        "",
        *peers.markdown(beside["peers"], args.levels),
        "",
        "### What one more replica costs",
        "",
        *footprint.markdown(beside["footprint"], peers.SYSTEMS, PEER_NAMES),
        "",
        "### Where a request's time goes (cache misses through nginx, means in ms)",
        "",
        *stages.markdown(beside["stages"]),
        "",
        inference_line(beside, low),
        "",
        "CPU per request by process (the same requests):",
        "",
        *stages.cpu_markdown(beside["stages"]),
        "",
        f"### TorchServe's batching and threads (cache misses through nginx, concurrency {low} and {high})",
        "",
        *torchserve_sweep.markdown(beside["sweep"], beside["stage_levels"]),
        "",
        "### Serving forms (in this process, the test split)",
        "",
        *forms.markdown(form_results, args.run),
    ]


def inference_line(beside: dict[str, Any], low: int) -> str:
    worker, alone = beside["stages"][low]["inference p50"], beside["alone"]
    return (
        f"The inference stage at concurrency {low}: p50 {worker:.2f} ms in the worker; the same session "
        f"alone in this process {alone['tight_p50']:.2f} ms in a tight loop and {alone['paced_p50']:.2f} ms "
        f"with {alone['pause_ms']:.1f} ms between runs (the rest of a request's path), the worker's pace."
    )


def render_table(
    results: dict, levels: list[int], targets: dict, args: argparse.Namespace, caption: str
) -> str:
    m = machine()
    lines = [
        f"Command: `make bench` (`python -m benchmarks.suite.run --rounds {args.rounds} "
        f"--requests {args.requests} --concurrency {args.concurrency}`), {m['date']}, {m['cpu']}, "
        f"{m['cores']} cores, Python {m['python']}, torch {m['torch']}. Images: {caption}.",
        "",
        "| mode | concurrency | images/s | p50 ms | p95 ms | p99 ms | peak RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for mode in MODES:
        for c in levels:
            r = results[mode][str(c)]
            lat = r["latency_ms"]
            lines.append(
                f"| {mode} | {c} | {r['throughput']:.1f} | {lat['p50']:.1f} | {lat['p95']:.1f} | "
                f"{lat['p99']:.1f} | {r['peak_rss_mb']:.0f} |"
            )
    return "\n".join([*lines, "", *verdicts(targets, levels)])


def update_markdown(path: Path, table: str) -> None:
    text = path.read_text() if path.is_file() else "# Benchmarks\n"
    section = f"{BEGIN}\n{table}\n{END}"
    if BEGIN in text and END in text:
        text = replace_section(text, BEGIN, END, section)
    else:
        text = text.rstrip() + "\n\n## The whole stack (`make bench`)\n\n" + section + "\n"
    path.write_text(text)
    print(f"updated {path}")


if __name__ == "__main__":
    main()
