"""What the loop of issue 33 buys on real screenshots, end to end through the API: the native stack serving
the demo model (1 replica), the ``holdout`` screenshots of ``../shared/screenshots/feedback_split.tsv``
classified through nginx, the ``feedback`` ones voted on through nginx as a visitor who knows each game
would (image shared), every vote accepted with ``ops.feedback`` and exported, the demo run refreshed on
them (``training refresh``, its defaults) and exported, the new version made the canary of every image,
shadowing 100 synthetic frames of the run's test split, promoted by ``ops.models promote`` with its
defaults (it judges a reviewed version by its card's figures), and the holdout screenshots classified
again. The holdout screenshots are never trained or tuned on: only answered, before and after.

    .venv/bin/python -m benchmarks.retrain.run [--run runs/demo] [--archive model_store/fromsoft.mar]

Printed and written (artifacts/bench/retrain_loop.json; its section of BENCHMARKS.md unless
--no-markdown): on the holdout screenshots before and after, top-1 accuracy, named right, "Not
recognised", named wrong (a wrong game above the threshold: a confidently wrong answer to a visitor) and
named wrong at 0.8 or more; the wall time of the refresh and of the export, and the machine's load.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common.report import command_line, machine, write_json, write_section
from benchmarks.common.reviewed_export import feedback_files
from benchmarks.retrain.loop import canary_and_promote, retrain, review, tally, tool, vote
from benchmarks.studies.retrain_offline import SCREENSHOTS
from inference.canary import PROMOTION
from launchers import REPO
from launchers.stack import UNLIMITED, NativeStack

BEGIN, END = "<!-- retrain-loop:begin -->", "<!-- retrain-loop:end -->"
VERSION = "r1"
SHADOWED = PROMOTION.min_comparisons  # promote's own default


def test_frames(run: Path, count: int) -> list[Path]:
    with (run / "manifest.csv").open(newline="") as f:
        return [Path(r["path"]) for r in csv.DictReader(f) if r["split"] == "test"][:count]


def default_archive(args: argparse.Namespace, store: Path) -> None:
    """The archive served by default into ``store``: ``--archive``, else the run exported as `make demo`
    exports it."""
    if args.archive.is_file():
        shutil.copy(args.archive, store / "fromsoft.mar")
        return
    print(f"retrain-loop: no {args.archive}; exporting {args.run} as make demo does", flush=True)
    tool("training", "export", args.run, "--model-store", store, var_dir=store.parent / "var")


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    store = work / "store"
    store.mkdir()
    default_archive(args, store)
    holdout = feedback_files(args.screenshots, "holdout")
    corrections = feedback_files(args.screenshots)
    native = NativeStack(work / "var", store, **UNLIMITED)
    native.up()
    try:
        print(f"retrain-loop: {len(holdout)} holdout screenshots through nginx, before", flush=True)
        before = tally(native.web, holdout)
        print(f"retrain-loop: {len(corrections)} feedback screenshots voted on through nginx", flush=True)
        votes = [vote(native.web, path, truth) for path, truth in corrections]
        shas = sorted({v["sha256"] for v in votes})
        exported = review(native.var_dir, shas, work / "reviewed")
        print(f"retrain-loop: {exported} accepted and exported; refresh and export", flush=True)
        load = os.getloadavg()[0]
        retrained = retrain(native.var_dir, args.run, work / "reviewed", store, VERSION)
        print(retrained.summary, flush=True)
        promoted = canary_and_promote(native, retrained, test_frames(args.run, SHADOWED), SHADOWED)
        print(promoted, flush=True)
        print(f"retrain-loop: {len(holdout)} holdout screenshots through nginx, after", flush=True)
        after = tally(native.web, holdout)
    finally:
        native.down()
    return {
        "holdout": len(holdout),
        "votes": {verdict: sum(v["verdict"] == verdict for v in votes) for verdict in ("right", "wrong")},
        "exported": exported,
        "before": before.to_dict(),
        "after": after.to_dict(),
        "refresh_s": retrained.refresh_s,
        "export_s": retrained.export_s,
        "load_1min_at_refresh": load,
        "refresh_summary": retrained.summary,
        "promote": promoted.strip(),
    }


def _row(name: str, t: dict[str, Any]) -> str:
    n = t["images"]
    share = {k: f"{t[k]} ({t[k] / n:.0%})" for k in ("named_right", "not_recognised", "named_wrong")}
    return (
        f"| {name} ({', '.join(t['versions'])}) | {t['accuracy']:.3f} | {share['named_right']} "
        f"| {share['not_recognised']} | {share['named_wrong']} | {t['named_wrong_strict']} |"
    )


def markdown(result: dict[str, Any], command: str) -> str:
    m = result["machine"]
    lines = [
        f"`{command}`, {m['date']}, {m['cpu']}, {m['cores']} cores: the native stack serving the demo model; "
        f"the {result['exported']} `feedback` screenshots voted on through nginx with their images "
        f"({result['votes']['wrong']} wrong, {result['votes']['right']} right), accepted with "
        "`ops.feedback`, "
        f"exported, `training refresh` (its defaults) and `training export`, canary, `ops.models promote`; "
        f"the {result['holdout']} `holdout` screenshots answered through nginx before and after. Named "
        "wrong: a wrong game named above the threshold; strict: at 0.8 or more.",
        "",
        '| default | accuracy | named right | "Not recognised" | named wrong | strict |',
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        _row("before", result["before"]),
        _row("after", result["after"]),
        "",
        f"Retrain wall time: refresh {result['refresh_s']:.0f} s, export {result['export_s']:.0f} s, on "
        f"{m['cores']} cores shared with other work (1-minute load {result['load_1min_at_refresh']:.1f} when "
        "the refresh began). Promote's verdict:",
        "",
        "```text",
        *[line for line in result["promote"].splitlines() if "retrained on reviewed" in line],
        "```",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, default=REPO / "runs/demo", help="the run the default came from")
    parser.add_argument(
        "--archive", type=Path, default=REPO / "model_store/fromsoft.mar", help="the default's archive"
    )
    parser.add_argument("--screenshots", type=Path, default=SCREENSHOTS)
    parser.add_argument("--out", type=Path, default=REPO / "artifacts/bench/retrain_loop.json")
    parser.add_argument("--no-markdown", action="store_true", help="leave BENCHMARKS.md alone")
    args = parser.parse_args()
    if not (args.screenshots / "feedback_split.tsv").is_file():
        print(f"retrain-loop: no {args.screenshots / 'feedback_split.tsv'}", file=sys.stderr)
        return 2
    args.run = args.run.resolve()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="retrain-loop-") as tmp:
        result = {**measure(args, Path(tmp)), "machine": machine()}
    result["total_s"] = time.perf_counter() - started
    write_json(args.out, result)
    text = markdown(result, command_line("benchmarks.retrain.run"))
    if not args.no_markdown:
        write_section(REPO / "BENCHMARKS.md", BEGIN, END, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
