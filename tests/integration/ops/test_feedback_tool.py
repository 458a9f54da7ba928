"""`python -m ops.feedback` on SQLite and PostgreSQL alike, on feedback recorded as the gateway records
it (store.feedback.record_vote): the queue's order and groups, decisions on one image, many, a prefix or
a whole group, the exported data set that `python -m training prepare` reads, prune and forget."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import Engine, func, make_url, select

from ops import feedback
from store.feedback import Ballot, Judged, Shared, record_vote
from store.models import Prediction, Review, SharedImage, Vote, utcnow
from store.perceptual import image_facts
from store.session import transaction
from tests.conftest import run_module

CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}


def picture(seed: int, size: tuple[int, int] = (64, 36), fmt: str = "PNG") -> bytes:
    """A smooth picture of its own: 4x3 random colours blown up. Two seeds' dHashes differ in 13 bits or
    more; the same seed at twice the size is a near-duplicate (1 bit)."""
    cells = np.random.default_rng(seed).integers(0, 256, (3, 4, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(cells).resize(size, Image.Resampling.BICUBIC).save(buffer, fmt)
    return buffer.getvalue()


@dataclass
class Tool:
    """The review tool run in this process against the test's database, as an operator types it."""

    engine: Engine
    capsys: pytest.CaptureFixture[str]

    def __call__(self, *argv: str | Path) -> tuple[int, str, str]:
        self.capsys.readouterr()
        status = feedback.main([str(arg) for arg in argv])
        said = self.capsys.readouterr()
        return status, said.out, said.err

    def vote(
        self,
        image: bytes | str,
        client: str,
        verdict: str,
        label: str | None = None,
        share: bool = True,
        predicted: str = "sekiro",
        days_ago: float = 0,
    ) -> str:
        """A visitor's vote on ``image`` (its bytes, or only its hash: nothing shared); its SHA-256."""
        sha = image if isinstance(image, str) else hashlib.sha256(image).hexdigest()
        kept = None
        if share and isinstance(image, bytes):
            facts = image_facts(image)
            fmt = "PNG" if image.startswith(b"\x89PNG") else "JPEG"
            kept = Shared(image, CONTENT_TYPES[fmt], facts.width, facts.height, facts.dhash)
        judged = Judged(sha, "fromsoft", "1.0", "d1g35t", predicted, 0.62, [{"label": predicted}])
        named = predicted if verdict == "right" else label
        with transaction(self.engine) as session:
            record_vote(
                session, judged, Ballot(sha, client, verdict, named), kept, utcnow() - timedelta(days_ago)
            )
        return sha

    def reviews(self) -> dict[str, tuple[str, str | None, str | None, str | None]]:
        """sha256 -> state, label, reviewer, why."""
        with transaction(self.engine) as session:
            return {r.sha256: (r.state, r.label, r.reviewer, r.why) for r in session.scalars(select(Review))}

    def count(self, table: type, sha: str) -> int:
        with transaction(self.engine) as session:
            return session.scalar(select(func.count()).select_from(table).where(table.sha256 == sha)) or 0


@pytest.fixture
def tool(
    engine: Engine,
    database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Tool:
    """The settings a stack gives the tool: DATABASE_URL without its password, which comes from
    DATABASE_PASSWORD_FILE; the moderator's login name."""
    url = make_url(database)
    monkeypatch.setenv("DATABASE_URL", url.set(password=None).render_as_string(hide_password=False))
    monkeypatch.delenv("DATABASE_PASSWORD_FILE", raising=False)
    monkeypatch.delenv("FEEDBACK_RETENTION_DAYS", raising=False)
    if url.password is not None:
        (tmp_path / "db-password").write_text(url.password + "\n")
        monkeypatch.setenv("DATABASE_PASSWORD_FILE", str(tmp_path / "db-password"))
    monkeypatch.setenv("LOGNAME", "moderator")
    monkeypatch.chdir(tmp_path)
    return Tool(engine, capsys)


@pytest.fixture
def queued(tool: Tool) -> dict[str, str]:
    """Four images: one agreed right, one called wrong with its screenshot, that screenshot's
    near-duplicate called right, one on which two visitors disagree."""
    images = {
        "agreed": tool.vote(picture(1), "a", "right"),
        "wrong": tool.vote(picture(2), "a", "wrong", "elden_ring"),
        "near": tool.vote(picture(2, (128, 72)), "b", "right"),
        "split": tool.vote(picture(3), "a", "right", share=False),
    }
    tool.vote(picture(3), "b", "wrong", "bloodborne", share=False)
    return images


def test_list_puts_contested_images_first_and_near_duplicates_under_theirs(tool, queued):
    status, out, err = tool("list", "--json")
    assert (status, err) == (0, "")
    listed = json.loads(out)
    entries = listed["queue"]
    order = [queued[name] for name in ("split", "wrong", "near", "agreed")]
    assert [e["sha256"] for e in entries] == order
    split, wrong, _, agreed = entries
    groups = [split["sha256"], wrong["sha256"], wrong["sha256"], agreed["sha256"]]
    assert [e["group"] for e in entries] == groups  # the near-duplicate in its screenshot's group
    assert [e["contested"] for e in entries] == [True, True, False, False]
    assert split["verdicts"] == {"right": 1, "wrong": 1}
    assert split["labels"] == {"sekiro": 1, "bloodborne": 1}
    assert wrong["judged"] == {"model": "fromsoft", "version": "1.0", "label": "sekiro"}
    assert wrong["confidence"] == pytest.approx(0.62)
    assert [e["shared"] for e in entries] == [False, True, True, True]
    assert listed["summary"] == (
        "feedback: 4 pending, 2 contested (!), 1 near-duplicate(s) (~, under the image they resemble); "
        "3 with a shared screenshot"
    )

    status, out, _ = tool("list")
    header, *lines, summary = out.splitlines()
    assert header.split() == ["SHA256", "JUDGED", "VOTES", "NAMED", "IMAGE"]
    assert [line.split()[0] for line in lines] == ["!", "!", "~", agreed["sha256"][:12]]
    assert lines[0].split()[1] == order[0][:12]
    assert "fromsoft 1.0: sekiro 62%" in lines[1]
    assert "bloodborne 1, sekiro 1" in lines[0] or "sekiro 1, bloodborne 1" in lines[0]
    assert lines[1].endswith("shared")
    assert lines[0].endswith("-")
    assert summary.startswith("feedback: 4 pending")


def test_accept_fix_and_reject_decide_one_image_or_many_named_by_their_first_digits(tool, queued):
    status, out, _ = tool("accept", queued["wrong"][:8])
    assert status == 0
    assert out == (
        "feedback: accepted 1 image(s) as moderator; labelled as their visitors named them: elden_ring 1\n"
    )
    assert tool("fix", queued["split"], queued["agreed"][:20], "--label", "dark_souls")[0] == 0
    status, out, _ = tool("reject", queued["near"][:10], "--why", "a menu", "--reviewer", "alice")
    assert (status, out) == (0, "feedback: rejected 1 image(s) as alice; why: a menu\n")
    assert tool.reviews() == {
        queued["wrong"]: ("accepted", "elden_ring", "moderator", None),
        queued["split"]: ("fixed", "dark_souls", "moderator", None),
        queued["agreed"]: ("fixed", "dark_souls", "moderator", None),
        queued["near"]: ("rejected", None, "alice", "a menu"),
    }
    assert json.loads(tool("list", "--json")[1])["queue"] == []


def test_group_takes_every_near_duplicate_of_an_image_with_it(tool, queued):
    status, out, _ = tool("reject", queued["wrong"][:8], "--group", "--why", "the same frame twice")
    assert status == 0
    assert out.startswith("feedback: rejected 2 image(s) (1 of them near-duplicates, by --group) as")
    states = {sha: review[0] for sha, review in tool.reviews().items()}
    assert states == {
        queued["wrong"]: "rejected",
        queued["near"]: "rejected",
        queued["split"]: "pending",
        queued["agreed"]: "pending",
    }


def test_a_prefix_naming_several_images_or_none_is_refused_and_nothing_is_decided(tool, queued):
    twins = ["abcdef01" + "0" * 56, "abcdef01" + "1" * 56]
    for sha in twins:
        tool.vote(sha, "a", "wrong", "elden_ring")
    status, out, err = tool("accept", queued["wrong"][:8], "abcdef01")
    assert (status, out) == (2, "")
    assert err == (
        f"feedback: abcdef01 begins 2 images ({twins[0][:16]}, {twins[1][:16]}): give more of its digits\n"
    )
    status, _, err = tool("accept", queued["wrong"], "0123456789")
    assert status == 2
    assert err.startswith("feedback: no feedback on an image 0123456789...")
    assert {review[0] for review in tool.reviews().values()} == {"pending"}  # all or nothing
    assert tool("accept", "abcdef011")[0] == 0
    assert tool.reviews()[twins[1]][0] == "accepted"


def test_a_decision_needs_a_known_label_a_reason_and_a_whole_prefix(tool, capsys):
    for argv in (
        ["fix", "abcdef01", "--label", "half_life"],
        ["fix", "abcdef01"],
        ["reject", "abcdef01"],
        ["accept", "abcdef0"],
        ["accept", "abcdefgh"],
    ):
        with pytest.raises(SystemExit) as exited:
            feedback.main(argv)
        assert exited.value.code == 2
        said = capsys.readouterr().err
        assert said.count("\n") == 1
        assert said.startswith(f"python -m ops.feedback {argv[0]}: ")


def exported_rows(out: Path) -> list[dict[str, str]]:
    with (out / "manifest.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_export_writes_a_folder_per_class_data_set_that_training_prepare_reads(tool, tmp_path):
    kept = [tool.vote(picture(10 + n), "a", "wrong", "elden_ring") for n in range(10)]
    jpeg = picture(30, fmt="JPEG")
    fixed = [tool.vote(picture(20), "a", "not_a_game"), tool.vote(jpeg, "a", "right")]
    rejected = tool.vote(picture(40), "a", "wrong", "elden_ring")
    unshared = tool.vote(picture(41), "a", "wrong", "elden_ring", share=False)
    assert tool("accept", *kept, unshared)[0] == 0
    assert tool("fix", *fixed, "--label", "bloodborne", "--reviewer", "alice")[0] == 0
    assert tool("reject", rejected, "--why", "blurry")[0] == 0

    out = tmp_path / "reviewed" / "2026-12-08"
    status, said, _ = tool("export", out)
    assert status == 0
    assert said == (
        f"feedback: exported 12 image(s) (bloodborne 2, elden_ring 10) to {out}, listed in "
        f"{out / 'manifest.csv'}\n"
    )
    rows = exported_rows(out)
    assert list(rows[0]) == ["sha256", "label", "reviewer", "reviewed_at", "verdict_counts", "source"]
    assert sorted(r["sha256"] for r in rows) == sorted(kept + fixed)
    by_sha = {r["sha256"]: r for r in rows}
    assert by_sha[fixed[0]]["label"] == "bloodborne"
    assert by_sha[fixed[0]]["reviewer"] == "alice"
    assert json.loads(by_sha[fixed[0]]["verdict_counts"]) == {"not_a_game": 1}
    assert by_sha[kept[0]]["reviewer"] == "moderator"
    assert by_sha[kept[0]]["reviewed_at"].endswith("+00:00")
    assert {r["source"] for r in rows} == {"feedback"}
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    expected = [f"elden_ring/{sha}.png" for sha in kept] + [f"bloodborne/{fixed[0]}.png"]
    assert files == sorted([*expected, f"bloodborne/{fixed[1]}.jpg", "manifest.csv"])
    assert (out / "bloodborne" / f"{fixed[1]}.jpg").read_bytes() == jpeg
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary folder left behind

    run = tmp_path / "run"
    run_module("training", "prepare", out, "--out", run, "--workers", "1")
    with (run / "manifest.csv").open(newline="") as f:
        prepared = {row["sha256"]: row["label"] for row in csv.DictReader(f)}
    assert prepared == {r["sha256"]: r["label"] for r in rows}


def test_export_refuses_a_folder_that_holds_anything_unless_forced_and_then_replaces_it_whole(
    tool, queued, tmp_path
):
    assert tool("accept", queued["wrong"])[0] == 0
    out = tmp_path / "reviewed"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    status, said, err = tool("export", out)
    assert (status, said) == (2, "")
    assert err == f"feedback: {out} is not empty: give a new folder, or --force to replace it\n"
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert tool("export", out, "--force")[0] == 0
    assert sorted(p.name for p in out.iterdir()) == ["elden_ring", "manifest.csv"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_export_with_nothing_kept_says_so_and_writes_nothing(tool, queued, tmp_path):
    status, said, _ = tool("export", tmp_path / "reviewed")
    assert status == 1
    assert said == (
        "feedback: nothing to export: no accepted or fixed image with a shared screenshot of a game\n"
    )
    assert not (tmp_path / "reviewed").exists()


def test_prune_deletes_the_screenshots_no_one_kept_within_the_retention_and_a_dry_run_only_counts(
    tool, monkeypatch
):
    monkeypatch.setenv("FEEDBACK_RETENTION_DAYS", "10")
    old = tool.vote(picture(1), "a", "wrong", "elden_ring", days_ago=20)
    old_kept = tool.vote(picture(2), "a", "wrong", "elden_ring", days_ago=20)
    recent = tool.vote(picture(3), "a", "wrong", "elden_ring", days_ago=5)
    assert tool("accept", old_kept)[0] == 0
    size = len(picture(1)) / 1e6
    status, said, _ = tool("prune", "--dry-run")
    assert status == 0
    assert said == (
        f"feedback: would delete 1 screenshot(s) ({size:.1f} MB) shared over 10 days ago that no moderator "
        "accepted or fixed (FEEDBACK_RETENTION_DAYS); their votes stay\n"
    )
    assert tool.count(SharedImage, old) == 1
    status, said, _ = tool("prune")
    assert said.startswith("feedback: deleted 1 screenshot(s)")
    assert [tool.count(SharedImage, sha) for sha in (old, old_kept, recent)] == [0, 1, 1]
    assert tool.count(Vote, old) == 1
    assert tool("prune")[1].startswith("feedback: deleted 0 screenshot(s)")


def test_forget_deletes_everything_the_store_holds_about_one_image(tool, queued):
    status, said, _ = tool("forget", queued["wrong"][:12])
    assert status == 0
    assert said.startswith(
        f"feedback: forgot {queued['wrong']}: 1 vote(s), 1 prediction(s), 1 screenshot(s), 1 review(s);"
    )
    for table in (Vote, Prediction, SharedImage, Review):
        assert tool.count(table, queued["wrong"]) == 0
        assert tool.count(table, queued["near"]) == 1
    assert tool("forget", queued["wrong"][:12])[0] == 2  # nothing left to name
