"""`make bench`: the stack against its limit and its peers, side by side in one run.

Five ways of answering the same images with the same model (modes.py):
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
its bench markers (report.py).

    .venv/bin/python -m benchmarks.suite.run [--rounds 3] [--requests 48] [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common.images import distinct, distinct_uploads, run_frames, screenshot_groups
from benchmarks.common.progress import Phase, Phases
from benchmarks.common.report import machine, write_json
from benchmarks.suite import batch, footprint, forms, inference_alone, peers, phases, stages, torchserve_sweep
from benchmarks.suite.modes import measure_modes
from benchmarks.suite.report import peer_targets, render_table, sections, update_markdown
from handler.settings import ServingSettings
from launchers import REPO
from training.export import SERIALIZED_FILES


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


if __name__ == "__main__":
    main()
