"""The whole loop of issue 33 on the tests' tiny run, through the native stack as visitors and the operator
use it: the real ``feedback`` screenshots voted on through nginx with their images shared, accepted with
``ops.feedback``, exported, the run refreshed on them and exported as a new version, that version made
the canary, promoted by ``ops.models promote`` on its card's figures, and answering through nginx.

Bounded to minutes on two loaded cores: the tiny backbone, 2 views, 3 folds, one torch thread, 20
shadowed frames."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from benchmarks.common.reviewed_export import feedback_files
from benchmarks.retrain.loop import canary_and_promote, retrain, review, tally, vote
from launchers.stack import UNLIMITED, NativeStack

# The tiny run's whole train split (about 96 frames per game): with 30 a game, its base test macro-F1 fell
# 0.06 under the default's and promote refused it, as it should (REVIEWED_MAX_TEST_DROP).
SMALL = ("--views", "2", "--folds", "3", "--base-per-class", "0", "--batch-size", "16", "--workers", "0")
THREADS = {"OMP_NUM_THREADS": "1"}


def _test_frames(run: Path, count: int) -> list[Path]:
    """Frames of the run's test split: images the stack has not seen, for the canary to shadow."""
    with (run / "manifest.csv").open(newline="") as f:
        return [Path(r["path"]) for r in csv.DictReader(f) if r["split"] == "test"][:count]


def test_corrections_sent_through_nginx_end_in_a_promoted_version_that_answers(
    trained_run: Path, model_store: Path, screenshots: Path, tmp_path: Path
):
    store = tmp_path / "store"
    store.mkdir()
    shutil.copy(model_store / "fromsoft.mar", store)
    native = NativeStack(tmp_path / "var", store, **UNLIMITED, **THREADS)
    native.up()
    try:
        corrections = feedback_files(screenshots)
        votes = [vote(native.web, path, truth) for path, truth in corrections]
        assert {v["shared"] for v in votes} == {True}
        assert {v["model"]["version"] for v in votes} == {"1.0"}

        reviewed = tmp_path / "reviewed"
        shas = sorted({v["sha256"] for v in votes})
        assert review(native.var_dir, shas, reviewed) == len(shas)

        retrained = retrain(
            native.var_dir, trained_run, reviewed, store, "r1", [*SMALL, "--threads", "1"],
            ["--timing-runs", "2"],
        )  # fmt: skip
        record = json.loads((tmp_path / "run-r1" / "refresh.json").read_text())
        assert len(record["reviewed"]["held_out"]) + len(record["reviewed"]["trained_on"]) == len(shas)

        promoted = canary_and_promote(native, retrained, _test_frames(trained_run, 20), min_comparisons=20)
        assert "retrained on reviewed screenshots (logreg)" in promoted  # judged on its figures
        declared = json.loads(native.models("show", "--json").stdout)["declared"]["models"]["fromsoft"]
        assert (declared["default"], declared.get("canary")) == ("r1", None)

        answered = tally(native.web, feedback_files(screenshots, "holdout")[:6])
        assert answered.versions == ("r1",)
        assert answered.images == 6
    finally:
        native.down()
