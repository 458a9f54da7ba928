"""`make bench`'s report: the Markdown section of BENCHMARKS.md between the bench markers (the modes' table,
the peers, footprint, stages, sweep and serving forms), each figure with its target's verdict."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from benchmarks.common.report import machine, replace_section
from benchmarks.suite import footprint, forms, peers, stages, torchserve_sweep
from benchmarks.suite.modes import MODES
from benchmarks.suite.targets import verdicts

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


PEER_NAMES = {"ours": "ours (one serving unit)", "litserve": "LitServe", "fastapi": "plain FastAPI"}


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
