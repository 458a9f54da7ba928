"""What the worst images the limits accept cost a model worker to decode and prepare, and what the ones
they refuse cost to refuse (benchmarks.common.costly_images; the limits in inference.image_limits).

Each image goes through the handler's decode and the eval transform in a fresh interpreter, after a
warm-up of one small PNG and one progressive JPEG, as a worker that has answered before: its CPU time, its
wall time and the most resident memory it held above what it held before (the kernel's high-water mark,
reset first: exact, where sampling can miss a peak). Prints a table and writes
artifacts/bench/decode_cost.json.

    .venv/bin/python -m benchmarks.studies.decode_cost [--arch efficientnet_lite0]
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.common.costly_images import REFUSED, WORST_ACCEPTED
from benchmarks.common.memory import peak_rss, reset_peak, rss
from benchmarks.common.report import machine, write_json
from launchers import REPO

MB = 1_000_000


@dataclass(frozen=True)
class Cost:
    outcome: str  # the tensor's shape, or the refusal's status and code
    cpu_s: float
    wall_s: float
    held_bytes: int  # resident memory at the peak, above what the process held before


def cost_in_fresh_process(data: bytes, arch: str = "efficientnet_lite0") -> Cost:
    """``data`` decoded and prepared by the handler's code in a new interpreter (see the docstring)."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.studies.decode_cost", "--one", "--arch", arch],
        input=data,
        capture_output=True,
        cwd=REPO,
        timeout=300,
        check=True,
    )
    return Cost(**json.loads(done.stdout))


def _one(arch: str) -> None:
    """In the fresh interpreter: the image on stdin, its cost as JSON on stdout."""
    from PIL import Image

    from handler.image_decode import ImageRejectedError, decode_image
    from inference.architectures import architecture
    from inference.preprocessing import eval_transform

    pre = architecture(arch).preprocessing

    def prepare(data: bytes) -> str:
        try:
            return str(eval_transform(decode_image(data, pre.resize_size), pre).shape)
        except ImageRejectedError as refused:
            return f"{refused.status} {refused.code}"

    for fmt, options in (("PNG", {}), ("JPEG", {"progressive": True})):
        buffer = io.BytesIO()
        Image.new("RGB", (640, 360), (10, 20, 30)).save(buffer, fmt, **options)
        prepare(buffer.getvalue())
    data = sys.stdin.buffer.read()
    before = rss("self")
    reset_peak("self")
    wall, cpu = time.perf_counter(), time.process_time()
    outcome = prepare(data)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    held = peak_rss("self") - before
    print(json.dumps({"outcome": outcome, "cpu_s": cpu, "wall_s": wall, "held_bytes": held}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="efficientnet_lite0", help="whose input size (default the demo's)")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=REPO / "artifacts/bench/decode_cost.json")
    args = parser.parse_args()
    if args.one:
        _one(args.arch)
        return
    shapes = {name: (make, "accepted") for name, make in WORST_ACCEPTED.items()}
    shapes |= {name: (make, f"{status} {code}") for name, (make, status, code) in REFUSED.items()}
    results = {}
    print("| image | bytes | expected | outcome | CPU s | wall s | held above idle |")
    print("| --- | ---: | --- | --- | ---: | ---: | ---: |")
    for name, (make, expected) in shapes.items():
        data = make()
        cost = cost_in_fresh_process(data, args.arch)
        results[name] = {"bytes": len(data), "expected": expected, **asdict(cost)}
        print(
            f"| {name} | {len(data)} | {expected} | {cost.outcome} | {cost.cpu_s:.3f} | {cost.wall_s:.3f} "
            f"| {cost.held_bytes / MB:.1f} MB |"
        )
    write_json(args.out, {"machine": machine(), "arch": args.arch, "results": results})


if __name__ == "__main__":
    main()
