"""POST /api/v1/feedback against the real stack (nginx -> gateway with two workers -> TorchServe, Redis)
writing to a real PostgreSQL: one vote per image per client, labels checked against the answer judged,
the file kept only when sent and only when it is the image named, many posts at once."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from inference.labels import LABELS
from launchers.gateway import gateway_env, start_gateway
from launchers.nginx import start_nginx
from launchers.postgres import PostgresServer
from launchers.procs import LoopbackServer
from launchers.redis import RedisServer
from launchers.torchserve import TorchServe
from tests.support.feedback import classified, client_hash, database_env, held, post_feedback


@pytest.fixture(scope="module")
def store_env(postgres: PostgresServer, tmp_path_factory) -> tuple[str, dict[str, str]]:
    return database_env(postgres, tmp_path_factory.mktemp("feedback-db"))


@pytest.fixture(scope="module")
def voting_gateway(
    torchserve: TorchServe, redis_server: RedisServer, store_env, tmp_path_factory
) -> Iterator[LoopbackServer]:
    # Redis's timeout raised from 50 ms: a loaded test machine would otherwise time the cache out, and an
    # answer the cache cannot give is a 404 here (the store, not Redis, is under test).
    env = gateway_env(
        torchserve, redis_server.url, RATE_LIMIT="100000/minute", REDIS_TIMEOUT="2", **store_env[1]
    )
    server = start_gateway(tmp_path_factory.mktemp("feedback-gateway"), env, workers=2)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def voting_edge(voting_gateway: LoopbackServer, web_root: Path, tmp_path_factory) -> Iterator[LoopbackServer]:
    server = start_nginx(tmp_path_factory.mktemp("feedback-nginx"), voting_gateway.port, web_root)
    yield server
    server.stop()


def another_game(label: str) -> str:
    return next(game for game in LABELS if game != label)


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_a_vote_on_a_classified_image_is_kept_and_a_repeat_updates_it(
    voting_edge, store_env, frames, redis_server
):
    answer = classified(voting_edge.url, frames[0], redis_server)
    sha, url, key = answer["sha256"], store_env[0], Path(store_env[1]["FEEDBACK_KEY_FILE"])
    game = another_game(answer["label"])
    first = post_feedback(voting_edge.url, sha, "wrong", game)
    assert first.status_code == 201, first.text
    body = first.json()["feedback"]
    assert body == {
        "sha256": sha,
        "verdict": "wrong",
        "label": game,
        "shared": False,
        "model": answer["model"],
        "updated": False,
    }
    again = post_feedback(voting_edge.url, sha, "not_a_game")
    assert again.status_code == 200, again.text
    assert again.json()["feedback"]["updated"] is True
    store = held(url)
    me = (sha, client_hash(key, "127.0.0.1"))  # nginx's X-Forwarded-For: the visitor's address, hashed
    assert store.votes[me] == ("not_a_game", None, answer["model"]["version"])
    assert [vote for vote in store.votes if vote[0] == sha] == [me]
    assert store.reviews[sha] == "pending"
    assert sha not in store.images  # no file, no consent: nothing kept
    assert "127.0.0.1" not in str(store.votes)


def test_a_screenshot_is_kept_only_when_sent_with_the_vote(voting_edge, store_env, frames, redis_server):
    answer = classified(voting_edge.url, frames[1], redis_server)
    sha = answer["sha256"]
    assert post_feedback(voting_edge.url, sha, "right").json()["feedback"]["shared"] is False
    assert sha not in held(store_env[0]).images
    shared = post_feedback(voting_edge.url, sha, "right", file=frames[1])
    assert shared.status_code == 200, shared.text
    assert shared.json()["feedback"]["shared"] is True
    assert shared.json()["feedback"]["label"] == (answer["label"] if answer["label"] in LABELS else None)
    assert held(store_env[0]).images[sha] == frames[1]


def test_an_image_nobody_classified_is_classified_first_when_its_file_comes_with_the_vote(
    voting_edge, store_env, frames
):
    image = frames[2] + b"\x00"  # bytes no test classified: a JPEG decoder ignores what trails its end
    sha = hashlib.sha256(image).hexdigest()
    assert_error(post_feedback(voting_edge.url, sha, "not_a_game"), 404, "not_found")
    response = post_feedback(voting_edge.url, sha, "not_a_game", file=image)
    assert response.status_code == 201, response.text
    assert held(store_env[0]).images[sha] == image


def test_fields_and_labels_are_checked_against_the_answer_judged(voting_edge, frames, redis_server):
    answer = classified(voting_edge.url, frames[3], redis_server)
    sha, predicted = answer["sha256"], answer["label"]
    wrong = [
        post_feedback(voting_edge.url, sha, "wrong"),  # which game, then?
        post_feedback(voting_edge.url, sha, "wrong", "half_life"),
        post_feedback(voting_edge.url, sha, "not_a_game", "sekiro"),
        post_feedback(voting_edge.url, sha, "right", another_game(predicted)),
        post_feedback(voting_edge.url, sha, "maybe"),
        post_feedback(voting_edge.url, sha.upper(), "right"),
    ]
    if predicted in LABELS:
        wrong.append(post_feedback(voting_edge.url, sha, "wrong", predicted))  # "wrong", naming its answer
    for response in wrong:
        assert_error(response, 422, "invalid_request")
    urlencoded = httpx.post(f"{voting_edge.url}/api/v1/feedback", data={"sha256": sha, "verdict": "right"})
    assert_error(urlencoded, 415, "unsupported_media_type")


def test_a_file_that_is_not_the_image_named_is_refused(voting_edge, store_env, frames, redis_server):
    answer = classified(voting_edge.url, frames[4], redis_server)
    response = post_feedback(voting_edge.url, answer["sha256"], "right", file=frames[5])
    assert_error(response, 400, "hash_mismatch")
    store = held(store_env[0])
    assert answer["sha256"] not in store.images
    assert hashlib.sha256(frames[5]).hexdigest() not in store.images


def test_many_posts_at_once_on_the_same_and_different_images_all_land_once(
    voting_gateway, store_env, frames, redis_server
):
    """Sixteen posts at once to the gateway's two workers: four images, four visitors, and one visitor
    sending the same vote twice."""
    answers = [classified(voting_gateway.url, image, redis_server) for image in frames[6:10]]
    jobs = [(a["sha256"], f"10.1.0.{n}") for a in answers for n in range(3)]
    jobs += [(answers[0]["sha256"], "10.1.0.9"), (answers[0]["sha256"], "10.1.0.9")]
    jobs += [(answers[1]["sha256"], "10.1.0.9"), (answers[2]["sha256"], "10.1.0.9")]
    barrier = threading.Barrier(len(jobs))
    statuses: list[int] = []

    def send(sha: str, client: str) -> None:
        barrier.wait()
        statuses.append(post_feedback(voting_gateway.url, sha, "not_a_game", client=client).status_code)

    threads = [threading.Thread(target=send, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(statuses) == [200] + [201] * (len(jobs) - 1), statuses
    key = Path(store_env[1]["FEEDBACK_KEY_FILE"])
    store = held(store_env[0])
    assert {(sha, client_hash(key, client)) for sha, client in jobs} <= set(store.votes)
    assert store.orphans == 0


def test_feedback_is_counted_by_model_version_and_verdict(voting_gateway, voting_edge, frames, redis_server):
    answer = classified(voting_edge.url, frames[10], redis_server)
    assert post_feedback(voting_edge.url, answer["sha256"], "not_a_game", client=None).status_code in (
        200,
        201,
    )
    metrics = httpx.get(f"{voting_gateway.url}/metrics").text
    model = answer["model"]
    counted = {
        (sample.labels["model"], sample.labels["version"], sample.labels["verdict"]): sample.value
        for family in text_string_to_metric_families(metrics)
        if family.name == "gateway_feedback"
        for sample in family.samples
        if sample.name == "gateway_feedback_total"
    }
    assert counted[(model["name"], model["version"], "not_a_game")] >= 1


def test_readyz_says_the_feedback_store_is_ready(voting_gateway):
    assert httpx.get(f"{voting_gateway.url}/readyz").json()["feedback"] == "ok"
