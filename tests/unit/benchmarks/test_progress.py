"""A long job's phase lines on standard error: each with its expected length, scaled by how this machine
kept to the estimates of the phases before it, and how long each took."""

from __future__ import annotations

import pytest

from benchmarks.common import progress


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The time progress reads, moved by the test."""
    now = [1000.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    return now


def test_each_phase_says_its_expected_length_scaled_by_the_pace_so_far_and_what_it_took(clock, capsys):
    plan = {
        "start": progress.Phase("starting the servers", 20.0),
        "sweep": progress.Phase("the sweep", 60.0),
        "forms": progress.Phase("forms", 30.0),
    }
    with progress.Phases("bench", plan) as phases:
        phases.next("start")
        clock[0] += 40  # twice the reference's time: this machine is slower
        phases.next("sweep")
        clock[0] += 80
        phases.next("forms")
        clock[0] += 50
    said = capsys.readouterr()
    assert said.out == ""
    assert said.err.splitlines() == [
        "bench: [1/3] starting the servers: about 20 s",
        "bench: [1/3] done in 40 s",
        "bench: [2/3] the sweep: about 2.0 min",  # 60 s at twice the pace
        "bench: [2/3] done in 80 s",
        "bench: [3/3] forms: about 45 s",  # 30 s at (40 + 80) / (20 + 60)
        "bench: [3/3] done in 50 s",
        "bench: finished in 2.8 min",
    ]


def test_a_job_that_fails_ends_its_phase_without_claiming_to_have_finished(clock, capsys):
    def job() -> None:
        with progress.Phases("soak", {"stack": progress.Phase("starting", 30.0)}) as phases:
            phases.next("stack")
            clock[0] += 5
            raise RuntimeError("stack.sh up failed")

    with pytest.raises(RuntimeError):
        job()
    assert capsys.readouterr().err.splitlines()[-1] == "soak: [1/1] done in 5 s"
