"""The folder CLI's parts without a server: what it sends and refuses, how it packs batches, how it
resumes from its CSV, how it copies into --sort-into, and how it waits out a 429 (httpx's mock
transport). tests/integration/gateway/test_folder_cli.py runs it against the real stack."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from client.api import Lens, RefusedError
from client.cli import main
from client.files import PART_BYTES, Found, batches, inspect, walk
from client.records import CsvRecords, row_of
from client.sorting import inside_any, sort_into
from tests.support.answers import classification


def jpeg(path: Path, shade: int = 90) -> Path:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), (shade, 20, 20)).save(buffer, "JPEG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return path


def answer(sha: str = "ab" * 32, label: str = "sekiro") -> dict:
    return classification(sha, label, "Sekiro" if label != "unknown" else "Not recognised", 0.91)


def test_files_are_judged_by_their_bytes_and_size_not_their_names(tmp_path):
    image = jpeg(tmp_path / "shot.txt")  # a JPEG whatever its name
    notes = tmp_path / "notes.png"
    notes.write_text("not an image")
    assert inspect(image, 10**6).content_type == "image/jpeg"
    assert inspect(notes, 10**6).problem == "not a JPEG, PNG or WebP image"
    assert "over the server's limit of 10" in (inspect(image, 10).problem or "")
    assert (inspect(tmp_path / "gone.jpg", 10**6).problem or "").startswith("unreadable")


def test_folders_are_walked_in_order_once_each_and_the_csv_is_left_out(tmp_path):
    a, b = jpeg(tmp_path / "x" / "b.jpg"), jpeg(tmp_path / "x" / "a" / "c.jpg")
    out = tmp_path / "x" / "results.csv"
    out.write_text("")
    assert walk([tmp_path / "x", b], leave_out=[out]) == sorted([a.resolve(), b.resolve()])


def found(size: int) -> Found:
    return Found(Path(f"/{size}"), size, "image/png")


def test_batches_hold_at_most_the_servers_files_and_bytes_in_order():
    sizes = [100, 200, 300, 400, 500]
    cut = batches([found(s) for s in sizes], max_files=2, max_bytes=700 + 2 * PART_BYTES)
    assert [[f.size for f in batch] for batch in cut] == [[100, 200], [300, 400], [500]]
    assert [len(b) for b in batches([found(1)] * 40, max_files=16, max_bytes=10**9)] == [16, 16, 8]


def test_a_csv_resumes_with_its_answers_and_drops_its_failures(tmp_path):
    out = tmp_path / "results.csv"
    records = CsvRecords(out)
    records.add(row_of(Path("/a.jpg"), answer()))
    records.add(row_of(Path("/notes.txt"), {"error": {"code": "not_sent", "message": "not an image"}}))
    records.close()
    kept = CsvRecords(out).answered()
    assert set(kept) == {"/a.jpg"}
    assert kept["/a.jpg"]["label"] == "sekiro"
    with out.open(newline="") as f:
        assert [row["path"] for row in csv.DictReader(f)] == ["/a.jpg"]  # the failure goes: tried again


def test_sorting_copies_never_moves_and_keeps_apart_two_files_of_one_name(tmp_path):
    first, second = (
        jpeg(tmp_path / "in" / "one" / "shot.jpg", 10),
        jpeg(tmp_path / "in" / "two" / "shot.jpg", 200),
    )
    root = tmp_path / "sorted"
    copy = sort_into(root, first, "sekiro", "ab" * 32)
    other = sort_into(root, second, "sekiro", "cd" * 32)
    assert copy == root / "sekiro" / "shot.jpg"
    assert other == root / "sekiro" / f"shot-{'cd' * 6}.jpg"
    assert sort_into(root, first, "sekiro", "ab" * 32) == copy  # a rerun copies nothing again
    assert first.is_file()
    assert second.is_file()
    assert copy.read_bytes() == first.read_bytes()
    assert sort_into(root, first, "unknown", "ab" * 32).parent.name == "unknown"


def test_sorting_into_a_folder_inside_a_source_is_refused_before_anything_runs(tmp_path, capsys):
    source = tmp_path / "captures"
    jpeg(source / "shot.jpg")
    assert inside_any(source / "sorted", [source]) == source.resolve()
    assert inside_any(tmp_path / "elsewhere", [source, source / "shot.jpg"]) is None
    assert (
        main(["classify", str(source), "--sort-into", str(source / "sorted"), "--api", "http://127.0.0.1:1"])
        == 2
    )
    assert "must not change" in capsys.readouterr().err
    assert not (source / "sorted").exists()


def test_a_429_is_waited_out_as_retry_after_says_then_the_batch_goes_again(tmp_path):
    sent: list[float] = []

    def server(request: httpx.Request) -> httpx.Response:
        sent.append(time.monotonic())
        if len(sent) == 1:
            return httpx.Response(429, headers={"Retry-After": "1"}, json={"error": {"code": "rate_limited"}})
        assert request.url.params["count"] == "1"
        return httpx.Response(200, json={"results": [answer()]})

    async def run() -> list:
        async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as client:
            image = jpeg(tmp_path / "shot.jpg")
            return await Lens("http://lens", client).classify(
                [(inspect(image, 10**6), image.read_bytes())], 3
            )

    assert asyncio.run(run())[0]["label"] == "sekiro"
    assert sent[1] - sent[0] >= 1.0


def test_a_batch_refused_whole_says_why_in_the_apis_words(tmp_path):
    def server(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"error": {"code": "too_many_files", "message": "at most 16"}})

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as client:
            await Lens("http://lens", client).classify([(inspect(jpeg(tmp_path / "s.jpg"), 10**6), b"")], 3)

    with pytest.raises(RefusedError) as refused:
        asyncio.run(run())
    assert (refused.value.code, refused.value.message) == ("too_many_files", "at most 16")
