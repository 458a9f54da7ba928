"""``python -m client classify`` on a folder, through nginx, the gateway and a real TorchServe: a text
file among the screenshots is reported and the rest classified, copies sorted by game while the source
stays as it was, and a second run resumes from the CSV without sending anything again."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

from benchmarks.common.images import distinct
from tests.conftest import REPO


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "client", "classify", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``folder``: its content's hash and its modification time."""
    return {
        str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def batches_sent(edge) -> int:
    return sum('"uri":"/api/v1/classify/batch' in line for line in edge.access_log.read_text().splitlines())


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_a_folder_with_a_text_file_is_classified_sorted_and_resumed(edge, frames, tmp_path):
    source = tmp_path / "captures"
    (source / "trip").mkdir(parents=True)
    for i, frame in enumerate(frames[:5]):
        (source / f"PS5-capture-{i}.jpg").write_bytes(distinct(frame, 100 + i))
    for i, frame in enumerate(frames[5:7]):
        (source / "trip" / f"capture-{i}.jpg").write_bytes(distinct(frame, 200 + i))
    (source / "notes.txt").write_text("which boss was this?")
    before = snapshot(source)
    results, sorted_into = tmp_path / "games.csv", tmp_path / "sorted"
    args = (source, "--api", edge.url, "--csv", results, "--sort-into", sorted_into, "--concurrency", "2")

    first = cli(*args)
    assert first.returncode == 1, first.stderr  # the text file failed, and says so
    assert "notes.txt: not_sent: not a JPEG, PNG or WebP image" in first.stderr
    answered = [row for row in rows(results) if row["label"]]
    assert len(answered) == 7
    assert [row["path"] for row in rows(results) if row["error"]] == [str((source / "notes.txt").resolve())]
    copies = sorted(p.relative_to(sorted_into) for p in sorted_into.rglob("*") if p.is_file())
    assert len(copies) == 7
    labels = {Path(row["path"]).name: row["label"] for row in answered}
    assert {(c.parent.name, c.name) for c in copies} == {(label, name) for name, label in labels.items()}
    assert snapshot(source) == before  # copies only: the source is never changed
    sent = batches_sent(edge)
    assert sent >= 1

    second = cli(*args)
    assert second.returncode == 1  # the text file still has no answer
    assert "7 answered in an earlier run" in second.stderr
    assert batches_sent(edge) == sent  # nothing sent again
    assert len(rows(results)) == 8  # no row twice
    assert snapshot(source) == before

    (source / "trip" / "late.jpg").write_bytes(distinct(frames[7], 300))
    third = cli(*args)
    assert batches_sent(edge) == sent + 1  # the new image alone
    assert "1 classified" in third.stderr
    assert len([row for row in rows(results) if row["label"]]) == 8


def test_json_lines_give_each_file_its_answer_and_the_exit_status_is_0_when_all_have_one(
    edge, frames, tmp_path
):
    for i, frame in enumerate(frames[8:11]):
        (tmp_path / f"{i}.jpg").write_bytes(distinct(frame, 400 + i))
    run = cli(tmp_path, "--api", edge.url, "--json", "--top-k", "2")
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert [Path(line["path"]).name for line in lines] == ["0.jpg", "1.jpg", "2.jpg"]
    assert all(len(line["top_k"]) == 2 and line["label"] for line in lines)


def test_a_tampered_csv_on_resume_cannot_lead_copies_out_of_the_sort_folder(edge, frames, tmp_path):
    """The labels a resumed run copies by come from the CSV on disk: a row edited to name a folder
    outside --sort-into is that file's failure, and nothing is written outside."""
    source = tmp_path / "captures"
    source.mkdir()
    for i, frame in enumerate(frames[:3]):
        (source / f"shot-{i}.jpg").write_bytes(distinct(frame, 500 + i))
    results, sorted_into = tmp_path / "games.csv", tmp_path / "sorted"
    assert cli(source, "--api", edge.url, "--csv", results).returncode == 0
    answered = rows(results)
    answered[0]["label"] = "../outside"
    answered[1]["label"] = str(tmp_path / "absolute")
    with results.open("w", newline="") as f:
        writer = csv.DictWriter(f, answered[0].keys())
        writer.writeheader()
        writer.writerows(answered)
    before = {p for p in tmp_path.rglob("*") if p != results}

    resumed = cli(source, "--api", edge.url, "--csv", results, "--sort-into", sorted_into)
    assert resumed.returncode == 1
    assert "label '../outside' is not a known game" in resumed.stderr
    assert f"label '{tmp_path / 'absolute'}' is not a known game" in resumed.stderr
    assert f"as its row in {results}" in resumed.stderr
    written = {p for p in tmp_path.rglob("*") if p != results} - before
    assert all(p == sorted_into or p.is_relative_to(sorted_into) for p in written), written
    assert len([p for p in written if p.is_file()]) == 1  # the untouched row's copy alone
