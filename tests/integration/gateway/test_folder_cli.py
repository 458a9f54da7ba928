"""``python -m client classify`` on a folder, through nginx, the gateway and a real TorchServe: a text
file among the screenshots is reported and the rest classified, copies sorted by game while the source
stays as it was, and a second run resumes from the CSV without sending anything again. Then
``python -m client feedback`` sends the corrections typed into that CSV, found again in the database."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.common.images import distinct
from inference.labels import DISPLAY_NAMES, LABELS
from launchers.gateway import feedback_env, gateway_env, start_gateway
from launchers.nginx import start_nginx
from launchers.procs import LoopbackServer
from tests.conftest import REPO
from tests.support.feedback import held


def cli(*args: str | Path, command: str = "classify") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "client", command, *map(str, args)],
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


@pytest.fixture(scope="module")
def voting_stack(
    torchserve, redis_server, web_root, tmp_path_factory
) -> Iterator[tuple[LoopbackServer, str]]:
    """nginx and a gateway whose feedback store (a SQLite file, as the native stack's) the test reads:
    the edge and the database's URL."""
    workdir = tmp_path_factory.mktemp("cli-feedback")
    store = feedback_env(workdir / "store")
    env = gateway_env(torchserve, redis_server.url, RATE_LIMIT="1000/minute", **store)
    gateway = start_gateway(workdir, env)
    edge = start_nginx(workdir, gateway.port, web_root)
    yield edge, store["DATABASE_URL"]
    edge.stop()
    gateway.stop()


def test_corrections_typed_into_the_csv_are_sent_as_votes_with_their_screenshots(
    voting_stack, frames, tmp_path
):
    """A folder classified, its CSV corrected as a moderator would (one answer left, one changed to another
    game by its name, one to not_a_game, one file edited since), then sent: three votes in the database
    with their screenshots, the edited file refused, and a second run replacing the same votes."""
    edge, database = voting_stack
    source = tmp_path / "captures"
    source.mkdir()
    for i, frame in enumerate(frames[:4]):
        (source / f"shot-{i}.jpg").write_bytes(distinct(frame, 700 + i))
    (source / "notes.txt").write_text("not a screenshot")
    results = tmp_path / "captures.csv"
    assert cli(source, "--api", edge.url, "--csv", results).returncode == 1  # the text file
    table = {Path(row["path"]).name: row for row in rows(results)}
    left, changed, not_a_game, edited = (table[f"shot-{i}.jpg"] for i in range(4))
    game = next(label for label in LABELS if label != changed["label"])
    changed["label"] = DISPLAY_NAMES[game]  # typed as a person names it
    not_a_game["label"] = "not_a_game"
    (source / "shot-3.jpg").write_bytes(distinct(frames[3], 799))  # changed since it was classified
    with results.open("w", newline="") as f:
        writer = csv.DictWriter(f, list(left))
        writer.writeheader()
        writer.writerows(table.values())

    sent = cli(results, "--api", edge.url, "--share-images", command="feedback")
    assert sent.returncode == 1, sent.stderr  # the edited file failed, and says so
    assert "shot-3.jpg: not sent: changed since it was classified" in sent.stderr
    assert "3 votes sent: 1 right, 1 wrong, 1 not a game, screenshots shared; 1 failed" in sent.stderr
    assert "1 rows without an answer passed over" in sent.stderr
    store = held(database)
    votes = {sha: (verdict, label) for (sha, _), (verdict, label, _) in store.votes.items()}
    answered = left["label"] if left["label"] in LABELS else None
    assert votes == {
        left["sha256"]: ("right", answered),
        changed["sha256"]: ("wrong", game),
        not_a_game["sha256"]: ("not_a_game", None),
    }
    for row in (left, changed, not_a_game):
        assert store.images[row["sha256"]] == Path(row["path"]).read_bytes()
    assert edited["sha256"] not in store.images

    again = cli(results, "--api", edge.url, command="feedback")
    assert "(3 replacing votes sent before), no screenshot kept" in again.stderr
    assert len(held(database).votes) == 3
