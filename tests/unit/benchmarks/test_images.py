"""make bench on a clone without the demo run's data (and without ../shared/screenshots) stops before
starting anything, saying what is missing, instead of dividing by an empty image set."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from benchmarks.common import images
from benchmarks.suite import run as bench


@pytest.fixture
def bare_clone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An exported run and model store, but neither the frames the run was prepared from (``RUN/data``,
    as prepare recorded it) nor real screenshots beside the checkout."""
    run = tmp_path / "runs" / "demo"
    (run / "serving").mkdir(parents=True)
    (run / "prepare_report.json").write_text(json.dumps({"data_root": str(run / "data")}))
    (tmp_path / "model_store").mkdir()
    (tmp_path / "model_store" / "fromsoft.mar").write_bytes(b"")
    monkeypatch.setattr(images, "SCREENSHOTS", tmp_path / "shared" / "screenshots")
    return run


def test_make_bench_without_frames_or_screenshots_says_what_is_missing(bare_clone, monkeypatch, capsys):
    store = bare_clone.parents[1] / "model_store"
    monkeypatch.setattr(sys, "argv", ["bench", "--run", str(bare_clone), "--model-store", str(store)])
    with pytest.raises(SystemExit) as stopped:
        bench.main()
    message = str(stopped.value.code)
    assert str(bare_clone / "data" / "FromSoftwareImages") in message
    assert "make train-demo" in message
    assert "no real screenshots" in capsys.readouterr().out


def test_frames_are_looked_for_where_prepare_recorded_the_data(bare_clone, tmp_path):
    elsewhere = tmp_path / "moved-away"
    (bare_clone / "prepare_report.json").write_text(json.dumps({"data_root": str(elsewhere)}))
    with pytest.raises(SystemExit, match="moved-away/FromSoftwareImages"):
        images.run_frames(bare_clone, 12)


def test_frames_are_read_when_the_data_is_there(bare_clone):
    frame = bare_clone / "data" / "FromSoftwareImages" / "elden_ring" / "0.jpg"
    frame.parent.mkdir(parents=True)
    frame.write_bytes(b"\xff\xd8\xff")
    assert images.run_frames(bare_clone, 12) == [b"\xff\xd8\xff"]
