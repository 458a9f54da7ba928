"""make bench's harness runs end to end at its smallest size against the test model, so it cannot rot, and
says what it is doing as it goes."""

import json
import re
import subprocess

import pytest

from benchmarks.suite.stages import STAGES
from tests.conftest import REPO, run_module


@pytest.fixture(scope="module")
def quick_bench(trained_run, model_store, tmp_path_factory) -> tuple[subprocess.CompletedProcess[str], dict]:
    """The bench at its smallest size: what it printed, and the figures it wrote."""
    out = tmp_path_factory.mktemp("bench") / "stack.json"
    run = run_module(
        "benchmarks.suite.run",
        *("--rounds", "1", "--no-markdown", "--run", trained_run, "--model-store", model_store),
        *(
            "--out",
            out,
            "--requests",
            "4",
            "--concurrency",
            "1,2",
            "--stage-requests",
            "8",
            "--sweep-settings",
            "2",
            "--warm-up",
            "16",
        ),
        timeout=900,
    )
    return run, json.loads(out.read_text())


def test_quick_bench_measures_every_mode_peer_stage_setting_and_form(quick_bench):
    run, payload = quick_bench
    assert set(payload["results"]) == {"limit", "stock", "ours", "miss", "hit"}
    assert payload["batch"]["batch_ms"]["p50"] > 0  # the batch row (benchmarks/suite/batch.py)
    assert payload["batch"]["singles_ms"]["p50"] > 0
    for mode, levels in payload["results"].items():
        for level in ("1", "2"):
            assert levels[level]["throughput"] > 0, (mode, level)
    for workload in ("distinct", "30% repeats"):
        for system in ("ours", "litserve", "fastapi"):
            assert payload["peers"][workload][system]["2"]["failed"] == 0, (workload, system)
    stages = payload["stages"]["1"]
    assert stages["inference"] > 0
    assert stages["inference p50"] > 0
    assert payload["alone"]["paced_p50"] > 0  # the same session alone, beside the worker
    processes = {"nginx", "gateway", "redis", "TorchServe front end", "TorchServe worker", "load generator"}
    assert set(stages["cpu_ms"]) == processes
    assert stages["cpu_ms"]["TorchServe worker"] > 0  # CPU time counts in 10 ms ticks: the others may not
    assert abs(sum(stages[s] for s in STAGES) - stages["client mean"]) < 1e-6  # the stages add up
    assert len(payload["sweep"]) == 2
    assert {"onnx", "onnx-int8", "eager"} <= set(payload["forms"])
    cost = payload["footprint"]
    for system in ("ours", "litserve", "fastapi"):
        assert 0 < cost["start_s"][system] < 300, system
        assert cost["peak_mb"][system] > 0, system
    assert {"torchserve front end (JVM)", "torchserve worker", "gateway", "reconciler"} <= set(
        cost["idle"]["ours"]
    )
    for row in ("one serving unit idle", "start command to first answer", "ahead of plain FastAPI"):
        assert row in run.stdout
    headings = (
        "| target | measured | verdict |",
        "A batch of 8 against 8",
        "Against its peers",
        "What one more replica costs",
        "Where a request",
    )
    for heading in headings:
        assert heading in run.stdout


def phase_lines(job: str, stderr: str) -> list[str]:
    """The lines a long job says its phases in, on standard error."""
    return [line for line in stderr.splitlines() if line.startswith(f"{job}: [")]


def test_the_quick_bench_says_each_phase_with_its_expected_length_on_standard_error(quick_bench):
    run, _ = quick_bench
    said = phase_lines("bench", run.stderr)
    started = [line for line in said if ": about " in line]
    assert len(started) == 8, said
    assert started[0].startswith("bench: [1/8] starting TorchServe")
    assert started[-1].startswith("bench: [8/8] the serving forms")
    assert all(re.search(r": about \d+(\.\d)? (s|min)$", line) for line in started), started
    assert len([line for line in said if " done in " in line]) == 8
    assert re.search(r"^bench: finished in ", run.stderr, re.MULTILINE)
    for sweep in ("modes:", "systems:", "settings:"):  # a bar over each sweep
        assert sweep in run.stderr
    assert "bench: [" not in run.stdout  # the figures' printout is left as it was


def git_worktrees() -> str:
    return subprocess.run(["git", "worktree", "list"], cwd=REPO, capture_output=True, text=True).stdout


def test_gateway_ab_compares_a_commit_with_this_checkout(synthetic_data, model_store, tmp_path):
    out = tmp_path / "ab.json"
    worktrees_before = git_worktrees()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "data").symlink_to(synthetic_data)  # the frames it sends: <run>/data
    run_module(
        "benchmarks.gateway_cost.ab",
        *("--ref", "HEAD", "--rounds", "1", "--images", "3", "--run", tmp_path / "run"),
        *("--model-store", model_store, "--out", out),
    )
    results = json.loads(out.read_text())["results"]
    assert set(results) == {"HEAD", "this checkout"}
    for measured in results.values():
        assert measured["hit"]["n"] == 3
        assert measured["hit"]["p50"] > 0
    assert git_worktrees() == worktrees_before  # the compared commit's checkout is gone again
