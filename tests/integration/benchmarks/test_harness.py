"""make bench's harness runs end to end at its smallest size against the test model, so it cannot rot."""

import json
import subprocess

from tests.conftest import REPO, run_module


def test_quick_bench_measures_every_mode_and_writes_json(trained_run, model_store, tmp_path):
    out = tmp_path / "stack.json"
    run = run_module(
        "benchmarks.run",
        *("--rounds", "1", "--no-markdown", "--run", trained_run, "--model-store", model_store),
        *("--out", out, "--requests", "4", "--concurrency", "1,2"),
    )
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
    run_module(
        "benchmarks.gateway_ab",
        *("--ref", "HEAD", "--rounds", "1", "--images", "3", "--run", tmp_path / "run"),
        *("--model-store", model_store, "--out", out),
    )
    results = json.loads(out.read_text())["results"]
    assert set(results) == {"HEAD", "this checkout"}
    for measured in results.values():
        assert measured["hit"]["n"] == 3
        assert measured["hit"]["p50"] > 0
    assert git_worktrees() == worktrees_before  # the compared commit's checkout is gone again
