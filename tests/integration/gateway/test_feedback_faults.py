"""Feedback fails closed and loses nothing: with its PostgreSQL down, feedback answers 503 while
classification still answers; a gateway SIGKILLed in the middle of a stream of votes leaves no vote
half-written and every vote it acknowledged in the database; a PostgreSQL restart in the middle of a
stream costs 503s while it is away, then writes resume, and nothing acknowledged is lost."""

from __future__ import annotations

import hashlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from launchers.gateway import gateway_env, start_gateway
from launchers.postgres import PostgresServer
from launchers.procs import LoopbackServer, wait_until
from launchers.redis import RedisServer
from launchers.torchserve import TorchServe
from tests.support.feedback import classified, client_hash, database_env, held, post_feedback


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL of this test's own, to stop, kill and restart."""
    server = PostgresServer().start()
    yield server
    server.remove()


@pytest.fixture
def voting(
    own_postgres: PostgresServer, torchserve: TorchServe, redis_server: RedisServer, tmp_path: Path
) -> Iterator[tuple[LoopbackServer, str, Path]]:
    """A gateway (two workers) writing feedback to ``own_postgres``: the gateway, the database's URL and
    the client key."""
    url, store = database_env(own_postgres, tmp_path)
    env = gateway_env(torchserve, redis_server.url, RATE_LIMIT="100000/minute", REDIS_TIMEOUT="2", **store)
    server = start_gateway(tmp_path / "gateway", env, workers=2)
    yield server, url, Path(store["FEEDBACK_KEY_FILE"])
    server.stop()


class Stream:
    """Votes sent one after another by several senders (each vote a new visitor), noting which were
    acknowledged with a 2xx and every status seen, until stopped."""

    def __init__(self, base: str, images: list[bytes], senders: int = 3) -> None:
        self.base, self.images = base, images
        self.acknowledged: list[tuple[str, str]] = []
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send, args=(n,)) for n in range(senders)]

    def _send(self, sender: int) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            image, client = self.images[n % len(self.images)], f"10.{sender}.{n // 250}.{n % 250}"
            try:
                status = post_feedback(self.base, image, "not_a_game", client=client, timeout=10).status_code
            except httpx.HTTPError:
                status = 0  # the gateway is gone: no answer, so nothing acknowledged
                time.sleep(0.05)
            self.statuses.append(status)
            if 200 <= status < 300:
                self.acknowledged.append((hashlib.sha256(image).hexdigest(), client))

    def __enter__(self) -> Stream:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def wait_for(self, check: Callable[[], bool], what: str, timeout: float = 60) -> None:
        wait_until(check, timeout, what)


def assert_nothing_lost_or_half_written(url: str, key: Path, acknowledged: list[tuple[str, str]]) -> None:
    store = held(url)
    assert acknowledged, "no vote was acknowledged"
    missing = [vote for vote in acknowledged if (vote[0], client_hash(key, vote[1])) not in store.votes]
    assert missing == []
    assert store.orphans == 0
    assert {sha for sha, _ in store.votes} <= set(store.reviews)  # each vote's review came with it


def test_with_the_database_down_feedback_is_a_503_and_classification_still_answers(
    voting, own_postgres, frames, redis_server
):
    gateway, url, _ = voting
    classified(gateway.url, frames[0], redis_server)
    assert post_feedback(gateway.url, frames[0], "not_a_game").status_code == 201
    own_postgres.stop()
    refused = post_feedback(gateway.url, frames[0], "not_a_game", client="10.9.9.9")
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "feedback_unavailable"
    assert refused.headers["Retry-After"]
    ready = httpx.get(f"{gateway.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["feedback"].startswith("unavailable")
    again = httpx.post(
        f"{gateway.url}/api/v1/classify", files={"file": ("a.jpg", frames[1], "image/jpeg")}, timeout=60
    )
    assert again.status_code == 200, again.text
    own_postgres.start()
    wait_until(
        lambda: post_feedback(gateway.url, frames[0], "not_a_game", client="10.9.9.9").status_code == 201,
        30,
        "feedback after the database came back",
    )
    assert len(held(url).votes) == 2


def test_a_database_that_is_not_migrated_refuses_feedback_and_says_so(
    own_postgres, torchserve, redis_server, tmp_path, frames
):
    url = own_postgres.create_database("unmigrated")
    (tmp_path / "key").write_text("k")
    env = gateway_env(torchserve, redis_server.url, DATABASE_URL=url, FEEDBACK_KEY_FILE=str(tmp_path / "key"))
    gateway = start_gateway(tmp_path / "gateway", env)
    try:
        classified(gateway.url, frames[2], redis_server)
        refused = post_feedback(gateway.url, frames[2], "not_a_game")
        assert refused.status_code == 503
        assert "python -m store upgrade" in refused.json()["error"]["message"]
        assert "python -m store upgrade" in httpx.get(f"{gateway.url}/readyz").json()["feedback"]
    finally:
        gateway.stop()


def test_a_gateway_killed_mid_stream_loses_no_acknowledged_vote_and_half_writes_none(
    voting, frames, redis_server
):
    gateway, url, key = voting
    images = frames[3:6]
    for image in images:
        classified(gateway.url, image, redis_server)
    with Stream(gateway.url, images) as stream:
        stream.wait_for(lambda: len(stream.acknowledged) >= 30, "votes before the kill")
        gateway.proc.signal(signal.SIGKILL)  # every worker and their parent at once, mid-write
        stream.wait_for(lambda: stream.statuses[-3:] == [0, 0, 0], "the gateway to be gone")
    assert_nothing_lost_or_half_written(url, key, stream.acknowledged)


def test_a_database_restart_mid_stream_costs_503s_then_writes_resume_and_nothing_is_lost(
    voting, own_postgres, frames, redis_server
):
    gateway, url, key = voting
    images = frames[6:9]
    for image in images:
        classified(gateway.url, image, redis_server)
    with Stream(gateway.url, images) as stream:
        stream.wait_for(lambda: len(stream.acknowledged) >= 20, "votes before the restart")
        own_postgres.kill()  # a crash: the next start recovers from its log
        stream.wait_for(lambda: 503 in stream.statuses, "503s while the database is away")
        before = len(stream.acknowledged)
        own_postgres.start()
        stream.wait_for(lambda: len(stream.acknowledged) >= before + 20, "writes to resume")
    assert set(stream.statuses) <= {201, 503}
    assert_nothing_lost_or_half_written(url, key, stream.acknowledged)
