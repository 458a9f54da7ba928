"""POST /api/v1/feedback against the real stack (nginx -> gateway with two workers -> TorchServe, Redis)
writing to a real PostgreSQL: one vote per image per client, labels checked against the answer judged,
the image required (a hash alone reveals nothing) and kept only with the visitor's consent, an image
never classified classified first, many posts at once."""

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
from launchers.procs import LoopbackServer, wait_until
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
    first = post_feedback(voting_edge.url, frames[0], "wrong", game)
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
    again = post_feedback(voting_edge.url, frames[0], "not_a_game")
    assert again.status_code == 200, again.text
    assert again.json()["feedback"]["updated"] is True
    store = held(url)
    me = (sha, client_hash(key, "127.0.0.1"))  # nginx's X-Forwarded-For: the visitor's address, hashed
    assert store.votes[me] == ("not_a_game", None, answer["model"]["version"])
    assert [vote for vote in store.votes if vote[0] == sha] == [me]
    assert store.reviews[sha] == "pending"
    assert sha not in store.images  # the file came, the consent did not: nothing kept
    assert "127.0.0.1" not in str(store.votes)


def test_a_screenshot_is_kept_only_when_the_visitor_agrees_to_share_it(
    voting_edge, store_env, frames, redis_server
):
    answer = classified(voting_edge.url, frames[1], redis_server)
    sha = answer["sha256"]
    declined = post_feedback(voting_edge.url, frames[1], "right", share=False)
    assert declined.status_code == 201, declined.text
    assert declined.json()["feedback"]["shared"] is False
    assert sha not in held(store_env[0]).images
    shared = post_feedback(voting_edge.url, frames[1], "right", share=True)
    assert shared.status_code == 200, shared.text
    assert shared.json()["feedback"]["shared"] is True
    assert shared.json()["feedback"]["label"] == (answer["label"] if answer["label"] in LABELS else None)
    assert held(store_env[0]).images[sha] == frames[1]


def test_a_hash_alone_reveals_nothing_whether_or_not_its_answer_is_cached(voting_edge, frames, redis_server):
    """Without the image, a post is refused before anything is looked up: the same 422, in the same
    words, for an image classified a moment ago and for one nobody ever sent."""
    seen = classified(voting_edge.url, frames[11], redis_server)["sha256"]
    never = hashlib.sha256(frames[11] + b"never sent").hexdigest()
    refusals = [post_feedback(voting_edge.url, None, "not_a_game", sha256=sha) for sha in (seen, never)]
    for response in refusals:
        assert_error(response, 422, "missing_file")
    assert refusals[0].json()["error"]["message"] == refusals[1].json()["error"]["message"]
    assert refusals[0].headers.keys() == refusals[1].headers.keys()


def test_an_image_nobody_classified_is_classified_first_and_its_vote_kept(
    voting_edge, store_env, frames, redis_server
):
    image = frames[2] + b"\x00"  # bytes no test classified: a JPEG decoder ignores what trails its end
    sha = hashlib.sha256(image).hexdigest()
    response = post_feedback(voting_edge.url, image, "not_a_game")
    assert response.status_code == 201, response.text
    assert response.json()["feedback"]["model"]["version"]
    store = held(store_env[0])
    assert [verdict for (voted, _), (verdict, _, _) in store.votes.items() if voted == sha] == ["not_a_game"]
    assert sha not in store.images  # classified, not kept: no consent
    # The gateway classified it for the vote, as /classify does (all seven games), and cached the answer.
    wait_until(lambda: bool(redis_server.client().keys(f"fromsoft:answer:*:{sha}")), 20, "the answer cached")
    again = httpx.post(
        f"{voting_edge.url}/api/v1/classify?top_k=7",
        files={"file": ("shot.jpg", image, "image/jpeg")},
        timeout=60,
    )
    assert again.json()["cached"] is True


def test_fields_and_labels_are_checked_against_the_answer_judged(voting_edge, frames, redis_server):
    image = frames[3]
    answer = classified(voting_edge.url, image, redis_server)
    sha, predicted = answer["sha256"], answer["label"]
    wrong = [
        post_feedback(voting_edge.url, image, "wrong"),  # which game, then?
        post_feedback(voting_edge.url, image, "wrong", "half_life"),
        post_feedback(voting_edge.url, image, "not_a_game", "sekiro"),
        post_feedback(voting_edge.url, image, "right", another_game(predicted)),
        post_feedback(voting_edge.url, image, "maybe"),
        post_feedback(voting_edge.url, image, "right", sha256=sha.upper()),
    ]
    if predicted in LABELS:
        wrong.append(post_feedback(voting_edge.url, image, "wrong", predicted))  # "wrong", naming its answer
    for response in wrong:
        assert_error(response, 422, "invalid_request")
    maybe = httpx.post(
        f"{voting_edge.url}/api/v1/feedback",
        files={
            "sha256": (None, sha),
            "verdict": (None, "right"),
            "share": (None, "yes"),
            "file": ("shot.jpg", image, "image/jpeg"),
        },
    )
    assert_error(maybe, 422, "invalid_request")
    urlencoded = httpx.post(f"{voting_edge.url}/api/v1/feedback", data={"sha256": sha, "verdict": "right"})
    assert_error(urlencoded, 415, "unsupported_media_type")


def test_a_file_that_is_not_the_image_named_is_refused(voting_edge, store_env, frames, redis_server):
    answer = classified(voting_edge.url, frames[4], redis_server)
    response = post_feedback(voting_edge.url, frames[5], "right", share=True, sha256=answer["sha256"])
    assert_error(response, 400, "hash_mismatch")
    store = held(store_env[0])
    assert answer["sha256"] not in store.images
    assert hashlib.sha256(frames[5]).hexdigest() not in store.images


def test_many_posts_at_once_on_the_same_and_different_images_all_land_once(
    voting_gateway, store_env, frames, redis_server
):
    """Sixteen posts at once to the gateway's two workers: four images, four visitors, and one visitor
    sending the same vote twice."""
    images = frames[6:10]
    for image in images:
        classified(voting_gateway.url, image, redis_server)
    jobs = [(image, f"10.1.0.{n}") for image in images for n in range(3)]
    jobs += [(images[0], "10.1.0.9"), (images[0], "10.1.0.9")]
    jobs += [(images[1], "10.1.0.9"), (images[2], "10.1.0.9")]
    barrier = threading.Barrier(len(jobs))
    statuses: list[int] = []

    def send(image: bytes, client: str) -> None:
        barrier.wait()
        statuses.append(post_feedback(voting_gateway.url, image, "not_a_game", client=client).status_code)

    threads = [threading.Thread(target=send, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(statuses) == [200] + [201] * (len(jobs) - 1), statuses
    key = Path(store_env[1]["FEEDBACK_KEY_FILE"])
    store = held(store_env[0])
    voted = {(hashlib.sha256(image).hexdigest(), client_hash(key, client)) for image, client in jobs}
    assert voted <= set(store.votes)
    assert store.orphans == 0


def test_feedback_is_counted_by_model_version_and_verdict(voting_gateway, voting_edge, frames, redis_server):
    answer = classified(voting_edge.url, frames[10], redis_server)
    assert post_feedback(voting_edge.url, frames[10], "not_a_game").status_code in (200, 201)
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
