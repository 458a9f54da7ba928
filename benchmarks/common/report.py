"""What every benchmark reports alike: percentiles, the machine it ran on, the JSON file, a section of
BENCHMARKS.md; and the options of those that serve the demo archive on synthetic frames."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(ms: Sequence[float]) -> dict[str, float]:
    return {"p50": statistics.median(ms), "p95": percentile(ms, 95), "p99": percentile(ms, 99), "n": len(ms)}


def serving_parser(description: str, out: str, rounds: int) -> argparse.ArgumentParser:
    """The options of a benchmark that serves the demo model's archive on synthetic frames."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--run", type=Path, default=Path("runs/demo"), help="run directory with data/")
    parser.add_argument("--model-store", type=Path, default=Path("model_store"))
    parser.add_argument("--images", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench") / out)
    return parser


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2))
    print(f"wrote {path}")


def replace_section(text: str, begin: str, end: str, section: str) -> str:
    """``text`` with everything from ``begin`` to ``end``, both markers included, replaced by ``section``."""
    return text[: text.index(begin)] + section + text[text.index(end) + len(end) :]


def command_line(module: str) -> str:
    """How this run was typed, for the section it writes: ``python -m MODULE ARGS...``."""
    return " ".join(["python -m", module, *sys.argv[1:]])


def write_section(path: Path, begin: str, end: str, body: str) -> None:
    """``body`` between the markers ``begin`` and ``end`` of ``path`` (BENCHMARKS.md), markers kept."""
    path.write_text(replace_section(path.read_text(), begin, end, f"{begin}\n{body}\n{end}"))
