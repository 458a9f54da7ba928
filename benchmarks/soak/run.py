"""`make soak`: the native stack under steady traffic while faults hit it one after another.

Locust, headless, drives 8 visitors through nginx (benchmarks/soak/traffic.py: 70% new classifications,
15% repeats, 10% explanations, 5% bad uploads) for ``--seconds`` at a stack of ``--replicas`` serving
replicas, while this script, one after another, kills Redis and starts it again, kills a TorchServe
worker, declares a new model version the default (ops.models, on every replica), scales the model's
workers 1 -> 2 -> 1 the same way, kills one replica's whole TorchServe and starts it again, and reloads
nginx, timing how long each takes to be recovered from. Loopback only; the stack, the traffic and the
faults end by themselves.

Printed and written (artifacts/bench/soak.json; the Reliability section of BENCHMARKS.md unless
--no-markdown): requests, answers by status, answers of the wrong shape, 5xx other than a 503 with
Retry-After, requests that got no answer, p50/p99 per phase, seconds to recover from each fault, and
answers of the old version sent after the switch's command returned. Exits 1 when a target is missed:
0 wrong shapes, 0 such 5xx, no answer lost, every fault recovered within 30 s, 0 old versions.

    .venv/bin/python -m benchmarks.soak.run [--seconds 240] [--replicas 2] [--model-store model_store]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common.archives import MODEL, new_archive
from benchmarks.common.progress import Phase, Phases, clock, out
from benchmarks.common.report import machine, percentile, replace_section, write_json
from benchmarks.soak.faults import Fault, Faults, Probe
from launchers import REPO
from launchers.stack import UNLIMITED, NativeStack
from launchers.torchserve import declare
from ops.declared import CanarySpec, parse, write

USERS = 8
FRAMES = 280  # synthetic frames the visitors send (made distinct per request)
RECOVERY_TARGET_S = 30.0
GIVE_UP_S = 90.0  # a fault not recovered by then is reported as such and the run goes on
NEW_VERSION = "2.0-soak"
CANARY_VERSION = "1.0-canary"
BEGIN, END = "<!-- soak:begin -->", "<!-- soak:end -->"


def prepare_store(source: Path, work: Path, canary_share: float) -> Path:
    """A model store with the served archive (declared, one worker), a new version of it to switch to,
    and a canary (another copy) shadowing ``canary_share`` of the images throughout."""
    store = work / "model_store"
    store.mkdir()
    shutil.copy(source / f"{MODEL}.mar", store / f"{MODEL}.mar")
    new_archive(store, store / f"{MODEL}.mar", NEW_VERSION)
    archives = [f"{MODEL}.mar", new_archive(store, store / f"{MODEL}.mar", CANARY_VERSION)]
    declared = store / "models.yaml"
    declare(store, archives, declared)
    state = parse(declared.read_text())
    canary = CanarySpec(version=CANARY_VERSION, share=canary_share)
    write(
        declared,
        state.model_copy(
            update={"models": {MODEL: state.models[MODEL].model_copy(update={"canary": canary})}}
        ),
    )
    return store


def canary_outcomes(native: NativeStack, replicas: int) -> dict[str, float]:
    """Every replica's canary comparisons by outcome, from its gateway's metrics."""
    outcomes: dict[str, float] = defaultdict(float)
    for replica in range(1, replicas + 1):
        metrics = httpx.get(
            f"http://127.0.0.1:{native.port(replica, 'GATEWAY_PORT')}/metrics", timeout=10
        ).text
        for line in metrics.splitlines():
            if line.startswith("gateway_canary_comparisons_total{"):
                outcome = line.split('outcome="')[1].split('"')[0]
                outcomes[outcome] += float(line.rsplit(" ", 1)[1])
    return dict(outcomes)


def synthesize_frames(work: Path, count: int) -> Path:
    frames = work / "frames"
    subprocess.run(
        [sys.executable, "-m", "training", "synthesize", str(frames), "--images", str(count), "--seed", "11"],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    return frames


def run_faults(fault_list: list[Fault], started: float, seconds: float) -> list[dict[str, Any]]:
    """Each fault at its slot (evenly spread over the run, or at once when the last one ran late), then
    its recovery condition polled until it holds."""
    timeline = []
    slot = seconds / (len(fault_list) + 1)
    for index, fault in enumerate(fault_list):
        time.sleep(max(0.0, started + slot * (index + 1) - time.time()))
        injected = time.time()
        out(f"soak: +{injected - started:5.1f} s  {fault.name}")
        fault.inject()
        recovered = None
        while time.time() - injected < GIVE_UP_S:
            if fault.recovered():
                recovered = time.time()
                break
            time.sleep(0.25)
        seconds_to_recover = None if recovered is None else round(recovered - injected, 1)
        out(f"soak:          recovered after {seconds_to_recover} s")
        timeline.append({"fault": fault.name, "at": injected, "recovery_s": seconds_to_recover})
    return timeline


def phase_of(t: float, timeline: list[dict[str, Any]]) -> str:
    """The fault whose phase ``t`` falls in (or steady traffic, before the first)."""
    return next((f["fault"] for f in reversed(timeline) if f["at"] <= t), "steady traffic")


def analyse(records: list[dict[str, Any]], timeline: list[dict[str, Any]], switched: float | None) -> dict:
    """The run's figures and the targets' verdicts."""
    answered = [r for r in records if r["status"] > 0]
    bad_5xx = [r for r in answered if r["status"] >= 500 and not (r["status"] == 503 and r["retry_after"])]
    # Sent after `ops.models` returned (every replica serving the new default by then), answered by the
    # model or from the cache: none may carry the old version.
    stale = [
        r
        for r in answered
        if switched is not None and r["t"] > switched and r.get("version") not in (None, NEW_VERSION)
    ]
    bounds = [("steady traffic", 0.0)] + [(f["fault"], f["at"]) for f in timeline]
    phases = []
    for index, (name, since) in enumerate(bounds):
        until = bounds[index + 1][1] if index + 1 < len(bounds) else float("inf")
        ms = [r["ms"] for r in answered if since <= r["t"] < until]
        phases.append(
            {
                "phase": name,
                "requests": len(ms),
                "p50_ms": round(statistics.median(ms), 1) if ms else None,
                "p99_ms": round(percentile(ms, 99), 1) if ms else None,
            }
        )
    figures = {
        "requests": len(records),
        "by_kind": dict(Counter(r["kind"] for r in records)),
        "by_status": {str(k): v for k, v in sorted(Counter(r["status"] for r in records).items())},
        "errors_by_code": dict(Counter(f"{r['status']} {r['code']}" for r in records if r.get("code"))),
        "wrong_shape": sum(1 for r in answered if not r["shape"]),
        "bad_5xx": len(bad_5xx),
        "no_answer": len(records) - len(answered),
        "unanswered": [
            {"phase": phase_of(r["t"], timeline), "kind": r["kind"], "error": r.get("error")}
            for r in records
            if r["status"] == 0
        ][:20],
        "old_version_after_switch": len(stale),
        "phases": phases,
        "faults": [{k: v for k, v in f.items() if k != "at"} for f in timeline],
    }
    recoveries = [f["recovery_s"] for f in timeline]
    figures["targets"] = {
        "0 answers of the wrong shape": figures["wrong_shape"] == 0,
        "0 5xx other than 503 with Retry-After": figures["bad_5xx"] == 0,
        "every request answered": figures["no_answer"] == 0,
        f"every fault recovered within {RECOVERY_TARGET_S:.0f} s": all(
            r is not None and r <= RECOVERY_TARGET_S for r in recoveries
        ),
        "0 answers of the old version once the switch returned": figures["old_version_after_switch"] == 0,
    }
    return figures


def markdown(figures: dict, seconds: float, host: dict) -> str:
    compared = ", ".join(
        f"{int(n)} {outcome}" for outcome, n in sorted(figures["canary"]["outcomes"].items())
    )
    lines = [
        BEGIN,
        f"`make soak` (`.venv/bin/python -m benchmarks.soak.run --seconds {seconds:.0f}`), {host['date']}, "
        f"{host['cpu']}: {figures['requests']} requests from {USERS} Locust visitors through nginx to "
        f"{figures['replicas']} serving replicas, a canary shadowing {figures['canary']['share']:.0%} of the "
        "images "
        f"({', '.join(f'{v} {k}' for k, v in figures['by_kind'].items())}).",
        "",
        "| fault | seconds to recover | p50 ms | p99 ms | requests in its phase |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    recovery = {f["fault"]: f["recovery_s"] for f in figures["faults"]}
    for phase in figures["phases"]:
        seconds_to_recover = recovery.get(phase["phase"], "")
        lines.append(
            f"| {phase['phase']} | {seconds_to_recover} | {phase['p50_ms']} | {phase['p99_ms']} "
            f"| {phase['requests']} |"
        )
    statuses = ", ".join(f"{count}x {status}" for status, count in figures["by_status"].items())
    lines += [
        "",
        f"Answers by status: {statuses}; the errors by code: "
        f"{', '.join(f'{n}x {code}' for code, n in sorted(figures['errors_by_code'].items()))}. "
        f"Wrong shape: {figures['wrong_shape']}; 5xx other than 503 with "
        f"Retry-After: {figures['bad_5xx']}; no answer: {figures['no_answer']}; answers of the old version "
        f"sent after the switch returned: {figures['old_version_after_switch']}. The canary's comparisons: "
        f"{compared or 'none'}.",
        "",
        "| target | verdict |",
        "| --- | --- |",
        *(f"| {name} | {'met' if ok else 'MISSED'} |" for name, ok in figures["targets"].items()),
        END,
    ]
    return "\n".join(lines)


def schedule(args: argparse.Namespace) -> dict[str, Phase]:
    """The run's phases as it announces them on standard error: what each does, and its seconds on 2
    cores (timed from these lines). The traffic lasts --seconds, then Locust stops its visitors; a fault
    still recovering then makes it longer (seven of them in 60 s took 87 s)."""
    return {
        "frames": Phase(f"synthesizing {FRAMES} frames for the visitors to send", 10),
        "stack": Phase(
            f"starting the native stack: {args.replicas} serving replica(s), a canary shadowing "
            f"{args.canary_share:.0%} of the images",
            10 + 10 * args.replicas,
        ),
        "traffic": Phase(
            f"{USERS} visitors through nginx for {args.seconds:.0f} s, the faults one after another",
            args.seconds + 5,
            paced=False,
        ),
        "down": Phase("stopping the stack and counting the answers", 20),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=240, help="traffic duration (default 240)")
    parser.add_argument("--replicas", type=int, default=2, help="serving replicas (default 2)")
    parser.add_argument(
        "--canary-share", type=float, default=0.2, help="a canary's share throughout (default 0.2)"
    )
    parser.add_argument("--model-store", type=Path, default=REPO / "model_store", help="holds fromsoft.mar")
    parser.add_argument("--out", type=Path, default=REPO / "artifacts/bench/soak.json")
    parser.add_argument("--no-markdown", action="store_true", help="leave BENCHMARKS.md alone")
    args = parser.parse_args()
    with Phases("soak", schedule(args)) as progress:
        work = Path(tempfile.mkdtemp(prefix="soak-"))
        progress.next("frames")
        frames = synthesize_frames(work, FRAMES)
        figures = soak(args, work, frames, progress)
    return report(args, figures, work)


def soak(args: argparse.Namespace, work: Path, frames: Path, progress: Phases) -> dict[str, Any]:
    """The stack up, under traffic and faults, and down; the run's figures."""
    progress.next("stack")
    # The visitors all come from 127.0.0.1: the limits, the edge's and the gateway's, are not under test.
    store = prepare_store(args.model_store.resolve(), work, args.canary_share)
    native = NativeStack(work / "var", store, SERVING_REPLICAS=str(args.replicas), **UNLIMITED)
    records_path = work / "records.jsonl"
    switched: list[float] = []
    traffic = [str(Path(sys.executable).parent / "locust"), "-f", str(REPO / "benchmarks/soak/traffic.py")]
    traffic += ["--headless", "--users", str(USERS), "--spawn-rate", str(USERS), "--host", native.web]
    traffic += ["--run-time", f"{args.seconds:.0f}s", "--stop-timeout", "30", "--only-summary"]
    env = {
        **os.environ,
        "SOAK_RECORDS": str(records_path),
        "SOAK_FRAMES": str(frames),
        "PYTHONPATH": str(REPO),
    }
    native.up()
    progress.next("traffic")
    try:
        with (
            clock(args.seconds, "traffic"),
            subprocess.Popen(traffic, cwd=REPO, env=env, stdout=subprocess.DEVNULL) as locust,
        ):
            started = time.time()
            probe = Probe(native.web, next(frames.rglob("*.jpg")).read_bytes())
            new_version = (f"{MODEL}-{NEW_VERSION}.mar", NEW_VERSION)
            try:
                timeline = run_faults(
                    Faults(native, probe, new_version, switched).plan(), started, args.seconds
                )
            finally:
                locust.wait(timeout=args.seconds + 120)  # the run ends by itself (--run-time)
        progress.next("down")
        canary = canary_outcomes(native, args.replicas)
    finally:
        native.down()
    records = [json.loads(line) for line in records_path.read_text().splitlines()]
    return {
        "replicas": args.replicas,
        "canary": {"share": args.canary_share, "outcomes": canary},
        **analyse(records, timeline, switched[0] if switched else None),
    }


def report(args: argparse.Namespace, figures: dict[str, Any], work: Path) -> int:
    """Print and write the figures; 1 when a target was missed (the stack's logs then stay)."""
    host = machine()
    table = markdown(figures, args.seconds, host)
    print(table)
    for lost in figures["unanswered"]:
        print(f"soak: no answer ({lost['kind']}, during {lost['phase']}): {lost['error']}")
    write_json(args.out, {"machine": host, "seconds": args.seconds, **figures})
    if not args.no_markdown:
        path = REPO / "BENCHMARKS.md"
        path.write_text(replace_section(path.read_text(), BEGIN, END, table))
    if all(figures["targets"].values()):
        shutil.rmtree(work, ignore_errors=True)
        return 0
    print(f"soak: a target was missed; the stack's logs and the records stay in {work}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
