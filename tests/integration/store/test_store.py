"""The system of record on SQLite and PostgreSQL alike: migrations that build what the models describe,
a vote recorded with its prediction, image and review in one transaction, one vote per image per client,
concurrent writers, and what the review tool does (queue, decisions, export, prune, forget)."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import Engine, delete, func, inspect, make_url, select
from sqlalchemy.exc import IntegrityError

from launchers.postgres import PostgresServer
from store import migrate, revision
from store.engine import make_engine
from store.feedback import Ballot, Judged, Shared, record_vote
from store.models import Prediction, Review, SharedImage, Vote
from store.perceptual import image_facts
from store.review import (
    Decision,
    Expired,
    UnknownImagesError,
    decide,
    expired,
    exportable,
    exportable_count,
    forget,
    matching,
    prune,
    queue,
)
from store.session import transaction
from tests.conftest import REPO

TABLES = {"predictions", "votes", "shared_images", "reviews", "api_keys"}
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def sha(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def judged(digest: str, label: str = "sekiro", version: str = "1.0") -> Judged:
    top = [
        {"label": label, "name": label, "probability": 0.8},
        {"label": "bloodborne", "name": "B", "probability": 0.1},
    ]
    return Judged(digest, "fromsoft", version, "abc123", label, 0.8, top)


def png(shade: int, size: tuple[int, int] = (64, 36)) -> Shared:
    image = Image.new("RGB", size, (shade, 0, 0))
    image.paste((255 - shade, 255, 0), (0, 0, size[0] // 3, size[1]))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    facts = image_facts(buffer.getvalue())
    return Shared(buffer.getvalue(), "image/png", facts.width, facts.height, facts.dhash)


def vote(engine: Engine, n: int, client: str, verdict: str, label: str | None, **kw) -> object:
    with transaction(engine) as session:
        return record_vote(
            session,
            kw.pop("judged", None) or judged(sha(n)),
            Ballot(sha(n), client, verdict, label),
            kw.pop("image", None),
            kw.pop("now", None),
        )


def count(engine: Engine, table: type) -> int:
    with transaction(engine) as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def test_migrations_build_what_the_models_describe_and_come_down_again(database):
    engine = make_engine(database)
    assert migrate.current(engine) is None
    assert revision.current(engine) is None  # what the gateway reads, without Alembic
    migrate.upgrade(engine)
    assert migrate.at_head(engine)
    assert revision.current(engine) == revision.HEAD == migrate.head()
    assert migrate.drift(engine) == []
    assert set(inspect(engine).get_table_names()) >= TABLES
    migrate.downgrade(engine, "base")
    assert not TABLES & set(inspect(engine).get_table_names())
    engine.dispose()


def store_cli(database: str, tmp_path: Path, command: str) -> subprocess.Popen[str]:
    """``python -m store COMMAND`` as a service runs it: a PostgreSQL password comes from its file."""
    url = make_url(database)
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": url.set(password=None).render_as_string(False)}
    if url.password is not None:
        (tmp_path / "db-password").write_text(f"{url.password}\n")
        env["DATABASE_PASSWORD_FILE"] = str(tmp_path / "db-password")
    return subprocess.Popen(
        [sys.executable, "-m", "store", command], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True
    )


def test_python_m_store_upgrades_and_checks_the_database_it_is_pointed_at(database, tmp_path):
    def run(command: str) -> tuple[int, str]:
        proc = store_cli(database, tmp_path, command)
        out, _ = proc.communicate(timeout=120)
        return proc.returncode, out.strip()

    assert run("check")[0] == 1
    assert run("current") == (0, "empty")
    assert run("upgrade")[0] == 0
    assert run("current") == (0, migrate.head())
    assert run("check")[0] == 0


def test_replicas_migrating_at_once_all_succeed(database, tmp_path):
    """Several serving pods' init containers upgrade together: one migrates, the others wait for its
    lock (PostgreSQL) or the write lock (SQLite), then find the schema at head."""
    procs = [store_cli(database, tmp_path, "upgrade") for _ in range(4)]
    assert [proc.wait(timeout=120) for proc in procs] == [0, 0, 0, 0]
    assert migrate.drift(make_engine(database)) == []


def test_a_vote_is_kept_with_the_prediction_it_judged_and_a_pending_review(engine):
    recorded = vote(engine, 1, "client-a", "wrong", "elden_ring")
    assert (recorded.updated, recorded.shared) == (False, False)
    with transaction(engine) as session:
        saved = session.scalars(select(Vote)).one()
        assert (saved.verdict, saved.label, saved.prediction.label) == ("wrong", "elden_ring", "sekiro")
        assert saved.prediction.top_k[0]["label"] == "sekiro"
        assert saved.prediction.perceptual_hash is None  # no image was shared
        assert session.get(Review, sha(1)).state == "pending"
        assert session.scalars(select(SharedImage)).all() == []


def test_a_repeat_from_the_same_client_updates_its_vote_and_another_client_adds_one(engine):
    vote(engine, 1, "client-a", "wrong", "elden_ring")
    again = vote(engine, 1, "client-a", "right", "sekiro")
    other = vote(engine, 1, "client-b", "wrong", "dark_souls")
    assert (again.updated, other.updated) == (True, False)
    with transaction(engine) as session:
        votes = {v.client: (v.verdict, v.label) for v in session.scalars(select(Vote))}
    assert votes == {"client-a": ("right", "sekiro"), "client-b": ("wrong", "dark_souls")}
    assert (count(engine, Prediction), count(engine, Review)) == (1, 1)


def test_a_repeat_under_a_new_version_points_the_vote_at_the_new_prediction(engine):
    vote(engine, 1, "client-a", "wrong", "elden_ring")
    vote(engine, 1, "client-a", "right", "sekiro", judged=judged(sha(1), version="2.0"))
    with transaction(engine) as session:
        assert session.scalars(select(Vote)).one().prediction.version == "2.0"
    assert count(engine, Prediction) == 2


def test_a_write_that_fails_part_way_leaves_nothing_behind(engine):
    with pytest.raises(IntegrityError):
        vote(engine, 1, "client-a", "maybe", None, image=png(10))  # the verdict's check constraint
    assert [count(engine, t) for t in (Prediction, Vote, SharedImage, Review)] == [0, 0, 0, 0]


def test_a_screenshot_is_kept_only_when_its_visitor_shares_it(engine):
    vote(engine, 1, "client-a", "wrong", "elden_ring")
    assert count(engine, SharedImage) == 0
    image = png(10)
    assert vote(engine, 1, "client-b", "wrong", "elden_ring", image=image).shared
    with transaction(engine) as session:
        kept = session.get(SharedImage, sha(1))
        assert (kept.data, kept.width, kept.height) == (image.data, 64, 36)
        assert session.scalars(select(Prediction)).one().perceptual_hash == image.perceptual_hash


def test_concurrent_votes_on_the_same_and_different_images_all_land_once(engine):
    """Eight writers at once: two images, the same client twice on one of them."""
    clients = [(1, "a"), (1, "b"), (1, "c"), (1, "a"), (2, "a"), (2, "b"), (2, "d"), (1, "d")]
    barrier = threading.Barrier(len(clients))
    errors: list[BaseException] = []

    def post(n: int, client: str) -> None:
        barrier.wait()
        try:
            vote(engine, n, client, "wrong", "dark_souls_3", image=png(n * 40))
        except BaseException as exc:  # reported below, with its type
            errors.append(exc)

    threads = [threading.Thread(target=post, args=job) for job in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert [count(engine, t) for t in (Vote, Prediction, SharedImage, Review)] == [7, 2, 2, 2]


def test_the_queue_puts_contested_images_first_and_groups_near_duplicates(engine):
    vote(engine, 1, "a", "right", "sekiro", now=T0)  # agreed: last
    vote(engine, 2, "a", "wrong", "elden_ring", image=png(10), now=T0)
    vote(engine, 3, "a", "right", "sekiro", image=png(10, (128, 72)), now=T0)  # 2's near-duplicate
    vote(engine, 4, "a", "right", "sekiro", now=T0)
    vote(engine, 4, "b", "wrong", "bloodborne", now=T0)  # visitors disagree
    entries = queue_of(engine)
    assert [e.sha256 for e in entries][:3] == [sha(4), sha(2), sha(3)]
    assert entries[2].group == sha(2)
    assert entries[0].group == sha(4)
    assert entries[0].labels == {"sekiro": 1, "bloodborne": 1}
    assert (entries[0].model, entries[0].version, entries[0].confidence) == ("fromsoft", "1.0", 0.8)
    assert entries[0].contested
    assert entries[-1].sha256 == sha(1)
    assert not entries[-1].contested
    with transaction(engine) as session:
        decide(session, [sha(4)], Decision("rejected", "mod", why="a menu"))
    assert sha(4) not in [e.sha256 for e in queue_of(engine)]


def queue_of(engine: Engine) -> list:
    with transaction(engine) as session:
        return queue(session)


def test_accept_keeps_the_visitors_label_fix_the_moderators_and_reject_none(engine):
    for n, client, verdict, label in [
        (1, "a", "wrong", "elden_ring"),
        (1, "b", "wrong", "elden_ring"),
        (1, "c", "right", "sekiro"),
        (2, "a", "wrong", "bloodborne"),
        (3, "a", "not_a_game", None),
    ]:
        vote(engine, n, client, verdict, label)
    with transaction(engine) as session:
        accepted = decide(session, [sha(1)], Decision("accepted", "mod"), now=T0)
        fixed = decide(session, [sha(2), sha(3)], Decision("fixed", "mod", label="dark_souls"))
        assert [r.label for r in accepted + fixed] == ["elden_ring", "dark_souls", "dark_souls"]
        assert accepted[0].reviewed_at == T0
        assert accepted[0].reviewer == "mod"
        rejected = decide(session, [sha(1)], Decision("rejected", "mod2", why="blurry"))
        assert (rejected[0].state, rejected[0].label, rejected[0].why) == ("rejected", None, "blurry")


def test_a_decision_naming_an_unknown_image_changes_nothing(engine):
    vote(engine, 1, "a", "wrong", "elden_ring")
    with pytest.raises(UnknownImagesError), transaction(engine) as session:
        decide(session, [sha(1), sha(9)], Decision("accepted", "mod"))
    with transaction(engine) as session:
        assert session.get(Review, sha(1)).state == "pending"
        with pytest.raises(ValueError, match="game's label"):
            decide(session, [sha(1)], Decision("fixed", "mod", label="not-a-game"))


def test_only_kept_shared_images_with_a_game_are_exportable(engine):
    vote(engine, 1, "a", "wrong", "elden_ring", image=png(10))
    vote(engine, 1, "b", "right", "sekiro")
    vote(engine, 2, "a", "wrong", "bloodborne", image=png(200))  # rejected below
    vote(engine, 3, "a", "wrong", "bloodborne")  # accepted, but no image was shared
    vote(engine, 4, "a", "not_a_game", None, image=png(90))  # accepted as no game: nothing to learn
    with transaction(engine) as session:
        decide(session, [sha(1)], Decision("fixed", "mod", label="elden_ring"), now=T0)
        decide(session, [sha(3), sha(4)], Decision("accepted", "mod"))
        decide(session, [sha(2)], Decision("rejected", "mod"))
        rows = list(exportable(session))
        assert exportable_count(session) == len(rows)
    assert [(r.sha256, r.label, r.reviewer, r.reviewed_at) for r in rows] == [
        (sha(1), "elden_ring", "mod", T0)
    ]
    assert rows[0].verdict_counts == {"wrong": 1, "right": 1}
    assert rows[0].data == png(10).data
    assert rows[0].content_type == "image/png"


def test_prune_deletes_screenshots_older_than_the_retention_that_no_moderator_kept(engine):
    vote(engine, 1, "a", "wrong", "elden_ring", image=png(10), now=T0 - timedelta(days=40))  # old, pending
    vote(engine, 2, "a", "wrong", "elden_ring", image=png(20), now=T0 - timedelta(days=40))  # old, accepted
    vote(engine, 3, "a", "wrong", "elden_ring", image=png(30), now=T0 - timedelta(days=10))  # recent
    with transaction(engine) as session:
        decide(session, [sha(2)], Decision("accepted", "mod"))
        assert expired(session, retention_days=30, now=T0) == Expired(1, len(png(10).data))  # a dry run
        assert count_in(session, SharedImage) == 3
        assert prune(session, retention_days=30, now=T0) == 1
        assert sorted(session.scalars(select(SharedImage.sha256))) == sorted([sha(2), sha(3)])
    assert count(engine, Vote) == 3  # the votes stay: only the screenshot goes


def count_in(session, table: type) -> int:
    return session.scalar(select(func.count()).select_from(table)) or 0


def test_an_image_is_found_by_the_first_digits_of_its_hash_in_any_table(engine):
    twins = ["abcdef01" + "0" * 56, "abcdef01" + "1" * 56]
    for n, image in enumerate(twins):
        vote(engine, 0, f"client-{n}", "wrong", "elden_ring", judged=judged(image))
    vote(engine, 1, "a", "wrong", "elden_ring", image=png(10))
    with transaction(engine) as session:
        assert matching(session, "abcdef01") == twins
        assert matching(session, "abcdef011") == twins[1:]
        assert matching(session, sha(1)[:8]) == [sha(1)]
        session.execute(delete(Review).where(Review.sha256 == sha(1)))
        session.execute(delete(Vote).where(Vote.sha256 == sha(1)))
        assert matching(session, sha(1)[:8]) == [sha(1)]  # its prediction and screenshot are still held
        assert matching(session, "0123456789") == []


def test_a_reader_keeps_no_writer_waiting(engine):
    """An export streams every kept screenshot inside one read transaction: votes land meanwhile. (A
    SQLite reader holding the write lock would keep each vote waiting its busy timeout, then fail.)"""
    vote(engine, 1, "a", "wrong", "elden_ring", image=png(10))
    with transaction(engine, read_only=True) as reader:
        assert len(queue(reader)) == 1
        vote(engine, 2, "a", "wrong", "elden_ring", image=png(20))
        vote(engine, 3, "a", "right", "sekiro")
    assert count(engine, Vote) == 3


def test_forget_deletes_everything_about_one_image(engine):
    vote(engine, 1, "a", "wrong", "elden_ring", image=png(10))
    vote(engine, 1, "b", "right", "sekiro", judged=judged(sha(1), version="2.0"))
    vote(engine, 2, "a", "wrong", "elden_ring", image=png(20))
    with transaction(engine) as session:
        gone = forget(session, sha(1))
    assert (gone.votes, gone.predictions, gone.images, gone.reviews) == (2, 2, 1, 1)
    assert [count(engine, t) for t in (Vote, Prediction, SharedImage, Review)] == [1, 1, 1, 1]


def test_upgrade_waits_for_a_database_that_starts_after_it(tmp_path):
    """Compose's migrate service and the serving pod's init container may start before PostgreSQL."""
    server = PostgresServer()
    try:
        env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": server.url(password=False)}
        env["DATABASE_PASSWORD_FILE"] = str(tmp_path / "password")
        (tmp_path / "password").write_text(server.password)
        command = [sys.executable, "-m", "store", "upgrade", "--wait", "60"]
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
        time.sleep(2)
        assert proc.poll() is None  # still waiting
        server.start()
        assert proc.wait(timeout=90) == 0
        assert migrate.at_head(make_engine(server.url()))
    finally:
        server.remove()
