"""What `make bench` holds the stack to: one row per target, as data, and the verdict table it renders.

A target names a figure of the run (a key of ``targets`` in artifacts/bench/stack.json), a bound and how
to show it; ``also`` names figures shown beside it that the verdict does not decide on. ``{low}`` and
``{high}`` in a goal are the lowest and highest concurrency measured.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    ">": operator.gt,
}


@dataclass(frozen=True)
class Target:
    goal: str
    key: str
    compare: str  # a key of COMPARE: measured <compare> bound passes
    bound: float
    unit: str = "x"  # how the figure is shown: "x" for a ratio, else a unit after the number
    also: tuple[str, ...] = ()


TARGETS = (
    # What one more replica costs (benchmarks/suite/footprint.py).
    Target("one serving unit idle (RSS, after its first answer)", "unit_idle_rss_mb", "<=", 800, "MB"),
    Target("one serving unit at its peak under the bench's load (RSS)", "unit_peak_rss_mb", "<=", 1400, "MB"),
    Target("start command to first answer", "start_to_first_answer_s", "<=", 15, "s"),
    # Against a plain FastAPI app and LitServe serving the same model (benchmarks/suite/peers.py).
    Target("30% repeats at concurrency {low}: >= 0.9x plain FastAPI", "repeats_vs_fastapi_at_min", ">=", 0.9),
    Target(
        "30% repeats above concurrency {low}: ahead of plain FastAPI (lowest ratio)",
        "repeats_vs_fastapi_above_min",
        ">",
        1,
    ),
    Target(
        "distinct images at concurrency {high}: >= 0.8x plain FastAPI",
        "distinct_vs_fastapi_at_max",
        ">=",
        0.8,
    ),
    Target(
        "30% repeats: ahead of LitServe at every concurrency (lowest ratio)",
        "repeats_vs_litserve_min",
        ">",
        1,
    ),
    Target(
        "distinct images at concurrency {high}: >= 0.9x LitServe", "distinct_vs_litserve_at_max", ">=", 0.9
    ),
    Target("p50 at concurrency {low} <= 1.3x LitServe's", "p50_vs_litserve_at_min", "<=", 1.3),
    # The stack's own parts.
    Target(
        "our handler >= 1.5x the stock one (mixed set, best concurrency each)", "ours_vs_stock", ">=", 1.5
    ),
    Target(
        "cache hit p50 <= 3 ms at the gateway (client on its port; its own timing, through nginx)",
        "hit_p50_ms_gateway_port",
        "<=",
        3,
        "ms",
        also=("hit_p50_ms_inside_gateway", "hit_p50_ms_client"),
    ),
    Target(
        "the handler's inference stage (p50 at concurrency {low}) within 1.2x of the same session alone "
        "at the same pace (in a tight loop)",
        "inference_in_worker_vs_paced",
        "<=",
        1.2,
        also=("inference_in_worker_vs_tight",),
    ),
    Target(
        "test macro-F1 of the served form at most 0.5 points below the trained model's",
        "macro_f1_points_lost",
        "<=",
        0.5,
        "points",
        also=("macro_f1_served", "macro_f1_trained"),
    ),
)


def shown(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "MB":
        return f"{value:.0f} MB"
    return f"{value:.2f} {unit}" if abs(value) < 100 else f"{value:.0f} {unit}"


def verdicts(targets: dict[str, Any], levels: list[int]) -> list[str]:
    """The target table: a row per target whose figure the run has (macro-F1 needs a trained report)."""
    lines = ["| target | measured | verdict |", "| --- | --- | --- |"]
    for target in TARGETS:
        value = targets.get(target.key)
        if value is None:
            continue
        measured = shown(value, target.unit)
        beside = [f"{targets[key]:.4g}" for key in target.also if targets.get(key) is not None]
        if beside:
            measured += f" ({', '.join(beside)})"
        passed = COMPARE[target.compare](value, target.bound)
        goal = target.goal.format(low=min(levels), high=max(levels))
        lines.append(f"| {goal} | {measured} | {'PASS' if passed else 'MISS'} |")
    return lines
