import pytest

from benchmarks.common.images import distinct
from benchmarks.common.report import percentile, summary
from benchmarks.suite.report import update_markdown


def test_percentiles_pick_the_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 50) == pytest.approx(50, abs=1)
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert summary([3.0, 1.0, 2.0])["p50"] == 2.0


def test_distinct_bytes_keep_the_image_and_change_the_hash():
    jpeg = b"\xff\xd8\xff" + b"\x00" * 10 + b"\xff\xd9"
    a, b = distinct(jpeg, 1), distinct(jpeg, 2)
    assert a != b
    assert a.startswith(jpeg)
    assert b.startswith(jpeg)


def test_markdown_section_is_replaced_between_its_markers_only(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nhand-written\n")
    update_markdown(path, "first table")
    update_markdown(path, "second table")
    text = path.read_text()
    assert "hand-written" in text
    assert "second table" in text
    assert "first table" not in text
    assert text.count("<!-- bench:begin -->") == 1
