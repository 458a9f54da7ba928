"""What retraining on reviewed screenshots buys, measured offline before the end-to-end benchmark exists:
the demo run retrained (``training refresh``) with each method on the screenshots
``../shared/screenshots/feedback_split.tsv`` marks ``feedback``, as if moderators had accepted them all,
each result exported as an archive, and the ``holdout`` screenshots (never trained or tuned on) answered
by the default's archive and by each new one, exactly as a replica would answer them.

    .venv/bin/python -m benchmarks.studies.retrain_offline [--run runs/demo] [--methods logreg finetune]

Per model: top-1 accuracy, named right, "Not recognised", named a wrong game (above the threshold: what a
visitor takes for a confident wrong answer) and, stricter, named wrong at 0.8 or more; and the wall time
of each refresh and export. Writes artifacts/bench/retrain_offline.json and the "Retraining on reviewed
screenshots" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common.report import command_line, machine, write_json, write_section
from benchmarks.common.reviewed_export import feedback_files, write_export
from inference.labels import LABELS
from inference.reviewed import STRICT_CONFIDENCE, Answers
from launchers import REPO
from training import served_archive
from training.data import Row

BEGIN, END = "<!-- retrain-offline:begin -->", "<!-- retrain-offline:end -->"
SCREENSHOTS = REPO.parent / "shared" / "screenshots"


def training(*args: str | Path) -> float:
    """``python -m training ...``; its wall time in seconds."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "training", *map(str, args)], cwd=REPO, check=True)
    return time.perf_counter() - started


def answered(archive: Path, rows: list[Row]) -> dict[str, Any]:
    """How ``archive`` answers ``rows``, as its replica would."""
    with served_archive.opened(archive, threads=2) as model:
        probs = model.probabilities(rows, archive.name)
        labels = np.array([LABELS.index(r.label) for r in rows])
        answers = Answers.of(probs, labels, model.threshold)
    return {**asdict(answers), "accuracy": float((probs.argmax(1) == labels).mean())}


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    reviewed = write_export(work / "reviewed", feedback_files(args.screenshots))
    holdout = [Row(path, label, -1, "holdout") for path, label in feedback_files(args.screenshots, "holdout")]
    store = work / "store"
    training("export", args.run, "--model-store", store, "--timing-runs", "5")
    models: dict[str, Any] = {"default": answered(store / "fromsoft.mar", holdout)}
    for method in args.methods:
        run = work / method
        seconds = training(
            "refresh", args.run, "--reviewed", reviewed, "--out", run, "--method", method,
            "--default-archive", store / "fromsoft.mar", *args.refresh_args,
        )  # fmt: skip
        export = training(
            "export", run, "--model-store", store, "--archive-name", method, "--timing-runs", "5"
        )
        models[method] = {
            **answered(store / f"{method}.mar", holdout),
            "refresh_s": seconds,
            "export_s": export,
        }
    return {"reviewed": len(feedback_files(args.screenshots)), "holdout": len(holdout), "models": models}


def markdown(result: dict[str, Any], command: str) -> str:
    n = result["holdout"]
    lines = [
        f"`{command}`, {result['machine']['date']}, {result['machine']['cpu']}: the demo run retrained on "
        f"the {result['reviewed']} `feedback` screenshots of `feedback_split.tsv` (a held-out part of them "
        f"kept out by `refresh` itself), then {n} `holdout` screenshots answered by each archive. Named "
        f"wrong: a wrong game named above the threshold; strict: at {STRICT_CONFIDENCE:g} or more.",
        "",
        '| model | accuracy | named right | "Not recognised" | named wrong | strict | refresh s | export s |',
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, m in result["models"].items():
        share = {k: f"{m[k]} ({m[k] / n:.0%})" for k in ("named_right", "not_recognised", "named_wrong")}
        times = f"{m['refresh_s']:.0f} | {m['export_s']:.0f}" if "refresh_s" in m else "- | -"
        lines.append(
            f"| {name} | {m['accuracy']:.3f} | {share['named_right']} | {share['not_recognised']} "
            f"| {share['named_wrong']} | {m['named_wrong_strict']} | {times} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--run", type=Path, default=Path("runs/demo"), help="an evaluated run (default runs/demo)"
    )
    parser.add_argument("--methods", nargs="+", default=["logreg", "cosine", "finetune"])
    parser.add_argument("--screenshots", type=Path, default=SCREENSHOTS)
    parser.add_argument("--refresh-args", nargs=argparse.REMAINDER, default=[], help="more flags for refresh")
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/retrain_offline.json"))
    args = parser.parse_args()
    if not (args.screenshots / "feedback_split.tsv").is_file():
        print(f"retrain_offline: no {args.screenshots / 'feedback_split.tsv'}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        result = {**measure(args, Path(tmp)), "machine": machine()}
    write_json(args.out, result)
    text = markdown(result, command_line("benchmarks.studies.retrain_offline"))
    write_section(REPO / "BENCHMARKS.md", BEGIN, END, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
