"""make bench's harness runs end to end at its smallest size against the test model, so it cannot rot."""

import json
import subprocess
import sys

from tests.conftest import REPO


def test_quick_bench_measures_every_mode_and_writes_json(trained_run, model_store, tmp_path):
    out = tmp_path / "stack.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--rounds",
            "1",
            "--no-markdown",
            "--run",
            str(trained_run),
            "--model-store",
            str(model_store),
            "--out",
            str(out),
            "--requests",
            "4",
            "--concurrency",
            "1,2",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    results = json.loads(out.read_text())["results"]
    assert set(results) == {"limit", "stock", "ours", "miss", "hit"}
    for mode, levels in results.items():
        for level in ("1", "2"):
            assert levels[level]["throughput"] > 0, (mode, level)
    assert "| target | measured | verdict |" in run.stdout


def git_worktrees() -> str:
    return subprocess.run(["git", "worktree", "list"], cwd=REPO, capture_output=True, text=True).stdout


def test_gateway_ab_compares_a_commit_with_this_checkout(synthetic_data, model_store, tmp_path):
    out = tmp_path / "ab.json"
    worktrees_before = git_worktrees()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "data").symlink_to(synthetic_data)  # the frames it sends: <run>/data
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.gateway_ab",
            "--ref",
            "HEAD",
            "--rounds",
            "1",
            "--images",
            "3",
            "--run",
            str(tmp_path / "run"),
            "--model-store",
            str(model_store),
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    results = json.loads(out.read_text())["results"]
    assert set(results) == {"HEAD", "this checkout"}
    for measured in results.values():
        assert measured["hit"]["n"] == 3
        assert measured["hit"]["p50"] > 0
    assert git_worktrees() == worktrees_before  # the compared commit's checkout is gone again
