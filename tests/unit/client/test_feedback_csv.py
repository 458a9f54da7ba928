"""``python -m client feedback`` without a server: what each row of a corrected ``classify --csv`` file
means, how an older CSV still reads, which rows are refused and why, and how the votes go (each with its
file, checked against the row; a 429 waited out) on httpx's mock transport.
tests/integration/gateway/test_folder_cli.py runs it against the real stack."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import time
from pathlib import Path

import httpx
from PIL import Image

from client.api import Lens
from client.corrections import Correction, read_corrections
from client.feedback import send
from client.records import COLUMNS, CsvRecords, row_of
from tests.support.answers import classification

OLD_COLUMNS = ("path", "sha256", "label", "name", "confidence", "model_version", "error")


def jpeg(path: Path, shade: int) -> Path:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 18), (shade, 40, 40)).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue())
    return path


def sha(n: int) -> str:
    return f"{n:064x}"


def write(
    path: Path, rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS, bom: bool = False
) -> Path:
    with path.open("w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        writer = csv.DictWriter(f, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def row(
    n: int, label: str, answered: str = "sekiro", name: str = "Sekiro: Shadows Die Twice"
) -> dict[str, str]:
    return {
        "path": f"/shots/{n}.jpg",
        "sha256": sha(n),
        "label": label,
        "name": name,
        "confidence": "0.9100",
        "model_version": "1.0",
        "answered_label": answered,
    }


def verdicts(path: Path) -> list[tuple[str, str, str | None]]:
    return [(vote.path.name, vote.verdict, vote.label) for vote in read_corrections(path).votes]


def test_a_row_left_as_answered_is_right_a_changed_one_wrong_with_its_game_and_not_a_game_that(tmp_path):
    rows = [
        row(1, "sekiro"),
        row(2, "elden_ring"),
        row(3, "Elden Ring"),  # a game as the page names it
        row(4, "DARK SOULS III"),
        row(5, "not_a_game"),
        row(6, "Not a game"),
        row(7, "unknown", answered="unknown", name="Not recognised"),  # "Not recognised" confirmed
        row(8, "bloodborne", answered="unknown", name="Not recognised"),
        row(9, "Sekiro: Shadows Die Twice"),  # the answer, spelled as its name: still right
    ]
    assert verdicts(write(tmp_path / "c.csv", rows)) == [
        ("1.jpg", "right", "sekiro"),
        ("2.jpg", "wrong", "elden_ring"),
        ("3.jpg", "wrong", "elden_ring"),
        ("4.jpg", "wrong", "dark_souls_3"),
        ("5.jpg", "not_a_game", None),
        ("6.jpg", "not_a_game", None),
        ("7.jpg", "right", None),
        ("8.jpg", "wrong", "bloodborne"),
        ("9.jpg", "right", "sekiro"),
    ]


def test_a_csv_written_before_answered_label_reads_the_answer_from_its_name_column(tmp_path):
    rows = [row(1, "sekiro"), row(2, "elden_ring"), row(3, "unknown", name="Not recognised")]
    old = write(tmp_path / "old.csv", rows, OLD_COLUMNS)
    assert verdicts(old) == [
        ("1.jpg", "right", "sekiro"),
        ("2.jpg", "wrong", "elden_ring"),
        ("3.jpg", "right", None),
    ]
    renamed = write(tmp_path / "renamed.csv", [{**row(4, "sekiro"), "name": "my favourite"}], OLD_COLUMNS)
    [problem] = read_corrections(renamed).problems
    assert "cannot tell what the server answered" in problem.why


def test_classify_writes_what_it_answered_beside_the_label_and_resuming_an_old_csv_keeps_it_readable(
    tmp_path,
):
    assert row_of(Path("/a.jpg"), classification(sha(1)))["answered_label"] == "sekiro"
    old = write(tmp_path / "old.csv", [row(1, "elden_ring")], OLD_COLUMNS)
    assert set(CsvRecords(old).answered()) == {"/shots/1.jpg"}  # a resumed classify rewrites it
    with old.open(newline="") as f:
        assert tuple(next(csv.reader(f))) == COLUMNS
    assert verdicts(old) == [("1.jpg", "wrong", "elden_ring")]  # answered_label empty: the name says


def test_rows_that_cannot_be_votes_are_refused_by_line_and_rows_without_an_answer_passed_over(tmp_path):
    rows = [
        row(1, "half_life"),
        row(2, "unknown"),  # the server named a game: "unknown" judges nothing
        {**row(3, "sekiro"), "sha256": "../../etc"},
        {"path": "/shots/notes.txt", "error": "not_sent: not a JPEG, PNG or WebP image"},
        row(5, "="),
        row(6, "sekiro"),
    ]
    read = read_corrections(write(tmp_path / "c.csv", rows))
    assert [(p.path, p.line) for p in read.problems] == [
        ("/shots/1.jpg", 2),
        ("/shots/2.jpg", 3),
        ("/shots/3.jpg", 4),
        ("/shots/5.jpg", 6),
    ]
    assert "'half_life' is not a game's" in read.problems[0].why
    assert "not_a_game" in read.problems[0].why  # and says what is
    assert "judges nothing" in read.problems[1].why
    assert read.unanswered == 1
    assert [vote.path.name for vote in read.votes] == ["6.jpg"]


def test_a_spreadsheets_byte_order_mark_and_escaped_cells_read_as_written(tmp_path):
    rows = [{**row(1, "'elden_ring"), "path": "'=shots/1.jpg"}]  # a cell escaped against formulas
    read = read_corrections(write(tmp_path / "c.csv", rows, bom=True))
    assert [(str(v.path), v.verdict, v.label) for v in read.votes] == [
        ("=shots/1.jpg", "wrong", "elden_ring")
    ]


def test_each_vote_goes_with_its_file_a_changed_file_is_its_rows_failure_and_a_429_is_waited_out(tmp_path):
    right, wrong, changed = (jpeg(tmp_path / f"{n}.jpg", 30 * n) for n in (1, 2, 3))
    digest = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (right, wrong, changed)}
    votes = [
        Correction(right, digest[right], "right", "sekiro"),
        Correction(wrong, digest[wrong], "wrong", "elden_ring"),
        Correction(changed, digest[changed], "not_a_game", None),
    ]
    jpeg(changed, 250)  # edited after it was classified
    received: list[dict[str, str | bytes]] = []
    sent_at: list[float] = []

    def server(request: httpx.Request) -> httpx.Response:
        sent_at.append(time.monotonic())
        if len(sent_at) == 1:
            return httpx.Response(429, headers={"Retry-After": "1"}, json={"error": {"code": "rate_limited"}})
        fields = form_fields(request)
        received.append(fields)
        return httpx.Response(201, json={"feedback": {"verdict": fields["verdict"], "updated": False}})

    async def run():
        async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as client:
            return await send(Lens("http://lens", client), votes, share=True)

    sent, failed = asyncio.run(run())
    assert (sent["right"], sent["wrong"], sent["not_a_game"], failed) == (1, 1, 0, 1)
    assert sent_at[1] - sent_at[0] >= 1.0
    assert [(f["sha256"], f["verdict"], f.get("label"), f["share"]) for f in received] == [
        (digest[right], "right", "sekiro", "true"),
        (digest[wrong], "wrong", "elden_ring", "true"),
    ]
    assert received[1]["file"] == wrong.read_bytes()


def form_fields(request: httpx.Request) -> dict[str, str | bytes]:
    """The multipart fields of ``request``: text fields as text, the file as bytes."""
    body = request.read()
    boundary = request.headers["content-type"].split("boundary=")[1].encode()
    fields: dict[str, str | bytes] = {}
    for part in body.split(b"--" + boundary)[1:-1]:
        head, _, value = part.strip(b"\r\n").partition(b"\r\n\r\n")
        name = head.split(b'name="')[1].split(b'"')[0].decode()
        fields[name] = value if b"filename=" in head else value.decode()
    return fields
