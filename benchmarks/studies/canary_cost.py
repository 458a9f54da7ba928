"""What a canary costs visitors: p50 and p99 of cache misses through nginx at concurrency 1 and 8 on the
native stack, with a canary shadowing a share of the images (0.1 by default) and with none, the two
alternating round by round on the same stack (`ops.models canary` on and off between rounds), so that the
machine's drift falls on both alike. The canary is a copy of the served archive: what it costs is its
shadow calls, which the gateway makes after the visitor's answer, at most CANARY_CONCURRENCY at once.

    .venv/bin/python -m benchmarks.studies.canary_cost [--share 0.1] [--rounds 3] [--requests 48]

Writes artifacts/bench/canary_cost.json and the Canary section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common.archives import MODEL, new_archive
from benchmarks.common.images import distinct_uploads, run_frames
from benchmarks.common.report import machine, replace_section, summary, write_json
from benchmarks.common.uploads import post_all
from launchers import REPO
from launchers.stack import UNLIMITED, NativeStack
from launchers.torchserve import declare

BEGIN, END = "<!-- canary:begin -->", "<!-- canary:end -->"
CANDIDATE = "1.0-candidate"
LEVELS = (1, 8)


def measure(
    native: NativeStack, frames: list[bytes], share: float, rounds: int, requests: int
) -> dict[str, Any]:
    """Latencies (ms) of distinct uploads by mode (none, canary) and concurrency, rounds interleaved."""
    url = f"{native.web}/api/v1/classify"
    latencies: dict[str, dict[int, list[float]]] = {m: {c: [] for c in LEVELS} for m in ("none", "canary")}
    nonce = 0
    for _ in range(rounds):
        for mode in ("none", "canary"):
            if mode == "canary":
                native.models("canary", MODEL, CANDIDATE, "--share", str(share))
            else:
                native.models("canary", MODEL, "--off")
            for level in LEVELS:
                uploads = distinct_uploads(frames, requests, nonce)
                nonce += requests
                outcomes, _ = post_all(url, uploads, level)
                if failed := [r.status_code for _, r in outcomes if r.status_code != 200]:
                    raise RuntimeError(f"{mode} at {level}: {failed}")
                latencies[mode][level] += [ms for ms, _ in outcomes]
    return {mode: {str(c): summary(ms) for c, ms in by_level.items()} for mode, by_level in latencies.items()}


def markdown(measured: dict[str, Any], share: float, args: argparse.Namespace, host: dict[str, Any]) -> str:
    lines = [
        BEGIN,
        f"`.venv/bin/python -m benchmarks.studies.canary_cost --share {share} --rounds {args.rounds} "
        f"--requests {args.requests}`, {host['date']}, {host['cpu']}: distinct images through nginx, one "
        f"serving replica, a canary (a copy of the served archive) shadowing {share:.0%} of them against "
        "none, alternating round by round.",
        "",
        "| concurrency | p50 ms, none | p50 ms, canary | ratio | p99 ms, none | p99 ms, canary | ratio |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for level in map(str, LEVELS):
        none, canary = measured["none"][level], measured["canary"][level]
        lines.append(
            f"| {level} | {none['p50']:.1f} | {canary['p50']:.1f} | {canary['p50'] / none['p50']:.2f} "
            f"| {none['p99']:.1f} | {canary['p99']:.1f} | {canary['p99'] / none['p99']:.2f} |"
        )
    return "\n".join([*lines, END])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--share", type=float, default=0.1, help="the canary's share (default 0.1)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each mode once (default 3)")
    parser.add_argument(
        "--requests", type=int, default=48, help="uploads per mode, level and round (default 48)"
    )
    parser.add_argument("--model-store", type=Path, default=REPO / "model_store", help="holds fromsoft.mar")
    parser.add_argument("--run", type=Path, default=REPO / "runs/demo", help="the run whose frames are sent")
    parser.add_argument("--out", type=Path, default=REPO / "artifacts/bench/canary_cost.json")
    parser.add_argument("--no-markdown", action="store_true", help="leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    frames = run_frames(args.run, 16)
    work = Path(tempfile.mkdtemp(prefix="canary-cost-"))
    store = work / "model_store"
    store.mkdir()
    shutil.copy(args.model_store / f"{MODEL}.mar", store / f"{MODEL}.mar")
    declare(
        store, [f"{MODEL}.mar", new_archive(store, store / f"{MODEL}.mar", CANDIDATE)], store / "models.yaml"
    )
    native = NativeStack(work / "var", store, **UNLIMITED)
    native.up()
    try:
        measured = measure(native, frames, args.share, args.rounds, args.requests)
    finally:
        native.down()
        shutil.rmtree(work, ignore_errors=True)
    host = machine()
    table = markdown(measured, args.share, args, host)
    print(table)
    write_json(args.out, {"machine": host, "share": args.share, **measured})
    if not args.no_markdown:
        path = REPO / "BENCHMARKS.md"
        text = path.read_text()
        if BEGIN not in text:
            text += f"\n## Canary\n\n{BEGIN}\n{END}\n"
        path.write_text(replace_section(text, BEGIN, END, table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
