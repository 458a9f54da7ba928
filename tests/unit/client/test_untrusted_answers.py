"""The folder CLI takes nothing the server (or a CSV on disk) says on trust: a label or hash that would
lead a copy out of --sort-into is that file's failure, a link there to elsewhere is not followed, a
Retry-After is waited out for a minute at most, a batch answered with the wrong number of results fails
its files without a traceback, and the server's words cannot run as formulas in a spreadsheet. A real
server answers none of these, so httpx's mock transport plays a hostile one;
tests/integration/gateway/test_folder_cli.py tampers with a real run's CSV."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
from pathlib import Path

import httpx
import pytest
from PIL import Image

import client.api
from client.api import Lens, Limits
from client.cli import Run, send_all
from client.files import inspect
from client.records import CsvRecords, row_of
from client.sorting import SortRefusedError, sort_into
from tests.support.answers import classification

SHA = "ab" * 32


def jpeg(path: Path, shade: int = 90) -> Path:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), (shade, 20, 20)).save(buffer, "JPEG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return path


def answer(label: str = "sekiro", sha: str = SHA, name: str = "Sekiro") -> dict:
    return classification(sha, label, name, 0.91)


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


@pytest.mark.parametrize(
    ("label", "sha"),
    [
        ("../escaped", SHA),
        ("../../../outside", SHA),  # tmp_path/outside
        ("{outside}", SHA),  # the same, absolute
        ("sekiro/../../escaped", SHA),
        ("", SHA),
        ("Sekiro", SHA),  # a display name, not a label
        ("sekiro", "../../escaped"),
        ("sekiro", "{outside}"),
        ("sekiro", SHA[:-1] + "/"),
        ("sekiro", SHA.upper()),
    ],
)
def test_a_label_or_hash_that_is_not_a_game_or_hex_is_refused_before_anything_is_written(
    tmp_path, label, sha
):
    source = jpeg(tmp_path / "in" / "shot.jpg")
    root = tmp_path / "deep" / "er" / "sorted"
    jpeg(root / "sekiro" / "shot.jpg", 200)  # a different file of that name: the hash would name the copy
    before = files_under(tmp_path)
    outside = str(tmp_path / "outside")
    with pytest.raises(SortRefusedError, match=r"not a known game|not 64 hex digits"):
        sort_into(root, source, label.format(outside=outside), sha.format(outside=outside))
    assert files_under(tmp_path) == before


def test_a_link_inside_the_sort_folder_that_leads_elsewhere_is_not_followed(tmp_path):
    source = jpeg(tmp_path / "in" / "shot.jpg")
    root, elsewhere = tmp_path / "sorted", tmp_path / "elsewhere"
    elsewhere.mkdir()
    root.mkdir()
    (root / "sekiro").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(SortRefusedError, match="outside"):
        sort_into(root, source, "sekiro", SHA)
    (root / "bloodborne").mkdir()
    (root / "bloodborne" / "shot.jpg").symlink_to(
        elsewhere / "planted.jpg"
    )  # dangling: copy2 would create it
    with pytest.raises(SortRefusedError, match="outside"):
        sort_into(root, source, "bloodborne", SHA)
    assert list(elsewhere.iterdir()) == []
    assert sort_into(root, source, "elden_ring", SHA) == root / "elden_ring" / "shot.jpg"  # the rest works


def run_args(tmp_path: Path, **overrides: object) -> argparse.Namespace:
    defaults = {"csv": tmp_path / "games.csv", "json": False, "sort_into": tmp_path / "sorted", "top_k": 3}
    return argparse.Namespace(**{"concurrency": 1, **defaults, **overrides})


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_a_server_label_that_would_escape_is_that_files_failure_with_a_clear_message(tmp_path, capsys):
    args = run_args(tmp_path)
    good, bad = jpeg(tmp_path / "in" / "a.jpg"), jpeg(tmp_path / "in" / "b.jpg", 30)
    run = Run(args)
    run.record(good, answer())
    run.record(bad, answer(label="../../outside"))
    run.csv.close()
    assert (run.answered, run.failed) == (1, 1)
    assert files_under(tmp_path / "sorted") == {tmp_path / "sorted" / "sekiro" / "a.jpg"}
    assert not (tmp_path / "outside").exists()
    written = {Path(row["path"]).name: row for row in rows(args.csv)}
    assert written["b.jpg"]["label"] == ""  # no answer kept: a rerun asks again
    assert "not_sorted" in written["b.jpg"]["error"]
    assert "label '../../outside' is not a known game" in capsys.readouterr().err


def lens_answering(results: list[dict]) -> tuple[Lens, httpx.AsyncClient]:
    def server(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"results": results})

    http = httpx.AsyncClient(transport=httpx.MockTransport(server))
    return Lens("http://lens", http), http


@pytest.mark.parametrize("answered", [1, 3])
def test_a_batch_answered_with_another_count_of_results_fails_its_files_and_says_why(
    tmp_path, capsys, answered
):
    images = [jpeg(tmp_path / "in" / f"{i}.jpg", 40 * i) for i in range(2)]
    args = run_args(tmp_path, sort_into=None)
    run = Run(args)

    async def go() -> None:
        lens, http = lens_answering([answer()] * answered)
        async with http:
            await send_all(lens, [inspect(p, 10**6) for p in images], Limits(10**6, 16, 10**7), args, run)

    asyncio.run(go())
    run.csv.close()
    assert (run.answered, run.failed) == (0, 2)
    errors = [row["error"] for row in rows(args.csv)]
    assert errors == [f"bad_answer: the server gave {answered} results for 2 files sent"] * 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_retry_after_of_a_day_is_waited_out_for_the_clients_maximum_and_says_so(
    tmp_path, monkeypatch, capsys
):
    """The real maximum is a minute; a second here keeps the test short. Unbounded, the wait_for fails."""
    monkeypatch.setattr(client.api, "MAX_WAIT", 1.0, raising=False)
    sent = []

    def server(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if len(sent) == 1:
            return httpx.Response(
                429, headers={"Retry-After": "86400"}, json={"error": {"code": "rate_limited"}}
            )
        return httpx.Response(200, json={"results": [answer()]})

    async def go() -> list[dict]:
        image = jpeg(tmp_path / "shot.jpg")
        async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as http:
            lens = Lens("http://lens", http)
            return await asyncio.wait_for(lens.classify([(inspect(image, 10**6), image.read_bytes())], 3), 30)

    assert asyncio.run(go())[0]["label"] == "sekiro"
    assert "asks to wait 86400 s; waiting 1 s, the most this client waits" in capsys.readouterr().err


def test_the_largest_wait_the_client_keeps_is_a_minute():
    assert client.api.MAX_WAIT == 60.0


FORMULAS = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR", "'quoted"]


def test_server_words_that_a_spreadsheet_would_run_are_written_as_text_and_read_back_the_same(tmp_path):
    out = tmp_path / "games.csv"
    records = CsvRecords(out)
    for i, formula in enumerate(FORMULAS):
        records.add(row_of(Path(f"{formula}-{i}.jpg"), answer(label=formula, name=formula, sha=formula)))
    records.add(row_of(Path("plain.jpg"), answer()))
    records.close()
    cells = [cell for row in rows(out) for cell in row.values() if cell]
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    # path, sha256, label, name, answered_label
    assert sum(cell.startswith("'") for cell in cells) == 5 * len(FORMULAS)
    kept = CsvRecords(out).answered()
    assert sorted(kept) == sorted(
        [f"{formula}-{i}.jpg" for i, formula in enumerate(FORMULAS)] + ["plain.jpg"]
    )
    for i, formula in enumerate(FORMULAS):
        row = kept[f"{formula}-{i}.jpg"]
        assert (row["label"], row["name"], row["sha256"]) == (formula, formula, formula)
    assert kept["plain.jpg"]["label"] == "sekiro"
    assert CsvRecords(out).answered() == kept  # the file answered() rewrote reads back the same again


def test_a_csv_edited_out_of_shape_is_read_as_holding_no_answers(tmp_path):
    out = tmp_path / "games.csv"
    out.write_text("label,name,extra\nsekiro,Sekiro,1,2,3\n")
    assert CsvRecords(out).answered() == {}


def test_a_spent_daily_quota_fails_the_batch_at_once_instead_of_waiting_hours(tmp_path):
    sent = []

    def server(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        body = {"error": {"code": "quota_exhausted", "message": "the API key's daily quota is spent"}}
        return httpx.Response(429, headers={"Retry-After": "80000"}, json=body)

    async def go() -> None:
        image = jpeg(tmp_path / "shot.jpg")
        async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as http:
            await asyncio.wait_for(
                Lens("http://lens", http).classify([(inspect(image, 10**6), image.read_bytes())], 3), 5
            )

    with pytest.raises(client.api.RefusedError) as refused:
        asyncio.run(go())
    assert (refused.value.code, len(sent)) == ("quota_exhausted", 1)
