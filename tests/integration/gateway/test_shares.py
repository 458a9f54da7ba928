"""Share links through nginx, the gateway (two workers) and a real TorchServe, with a real Redis: made
only from the image itself, under an unguessable id, without the image's hash, read through any
replica, dead with the answer they copy, and failing closed while Redis is away. The image's SHA-256
alone unlocks nothing."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import httpx
import pytest

from benchmarks.common.images import distinct
from launchers.gateway import WRITE_BEHIND_WAIT, gateway_env, start_gateway
from launchers.procs import wait_until


def classify(base: str, image: bytes, top_k: int = 3) -> dict:
    response = httpx.post(
        f"{base}/api/v1/classify", params={"top_k": top_k}, files={"file": ("s.jpg", image)}, timeout=60
    )
    assert response.status_code == 200, response.text
    return response.json()


def share(base: str, image: bytes, top_k: int = 3) -> httpx.Response:
    return httpx.post(
        f"{base}/api/v1/shares", params={"top_k": top_k}, files={"file": ("s.jpg", image)}, timeout=60
    )


def shared(base: str, share_id: str) -> httpx.Response:
    return httpx.get(f"{base}/api/v1/shares/{share_id}")


def test_a_share_made_from_the_image_shows_its_answer_without_the_images_hash(edge, frames):
    image = distinct(frames[0], 30)
    answer = classify(edge.url, image, top_k=5)
    time.sleep(WRITE_BEHIND_WAIT)
    made = share(edge.url, image, top_k=3)
    assert made.status_code == 201, made.text
    created = made.json()
    assert created["url"] == f"/s/{created['id']}"
    page = shared(edge.url, created["id"])
    assert page.status_code == 200, page.text
    body = page.json()
    assert body == {
        "label": answer["label"],
        "name": answer["name"],
        "confidence": answer["confidence"],
        "top_k": answer["top_k"][:3],  # from the classification that listed five
        "model": answer["model"],
        "expires_at": created["expires_at"],
    }
    assert answer["sha256"] not in page.text
    assert answer["sha256"] not in made.text
    assert answer["sha256"][:16] not in created["id"]
    expires = datetime.fromisoformat(body["expires_at"])
    assert 0 < (expires - datetime.now(UTC)).total_seconds() <= 86400  # CACHE_TTL_SECONDS at most
    for response in (made, page):
        assert response.headers.get_list("Cache-Control") == ["no-store"]
    front_end = httpx.get(f"{edge.url}{created['url']}")
    assert front_end.status_code == 200
    assert "FromSoft Lens" in front_end.text  # index.html: the page reads the share itself


def test_share_ids_are_128_random_bits_new_for_every_share_of_one_image(edge, frames):
    image = distinct(frames[1], 30)
    classify(edge.url, image)
    time.sleep(WRITE_BEHIND_WAIT)
    ids = []
    for _ in range(8):
        made = share(edge.url, image)
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
    assert len(set(ids)) == len(ids)
    for share_id in ids:
        assert len(base64.urlsafe_b64decode(share_id + "==")) == 16
    # A well-formed id nobody was given is as unknown as one that expired.
    guessed = shared(edge.url, "A" * 22)
    assert guessed.status_code == 404
    assert guessed.json()["error"]["code"] == "not_found"


def test_the_images_hash_alone_reveals_nothing_any_more(edge, frames):
    image = distinct(frames[2], 30)
    answer = classify(edge.url, image)
    time.sleep(WRITE_BEHIND_WAIT)
    digest = answer["sha256"]
    lookup = httpx.get(f"{edge.url}/api/v1/results/{digest}")  # the old share link's API
    assert lookup.status_code == 404
    assert lookup.json()["error"]["code"] == "not_found"
    assert answer["name"] not in lookup.text
    assert answer["label"] not in lookup.text
    by_hash = httpx.post(f"{edge.url}/api/v1/shares", json={"sha256": digest})
    assert by_hash.status_code == 415  # a share takes the image, never its hash
    assert by_hash.json()["error"]["code"] == "unsupported_media_type"
    old_page = httpx.get(f"{edge.url}/r/{digest}")  # the front end only: it says the format is retired
    assert old_page.status_code == 200
    assert answer["name"] not in old_page.text


def test_only_a_cached_answer_is_shared_and_bad_ids_get_json_errors(edge, frames):
    never_classified = distinct(frames[3], 30)
    unknown = share(edge.url, never_classified)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"
    classify(edge.url, never_classified, top_k=3)
    time.sleep(WRITE_BEHIND_WAIT)
    assert share(edge.url, never_classified, top_k=7).status_code == 404  # nobody asked for seven games
    for malformed in ("short", "A" * 23, "A" * 21 + "!", "A" * 21 + "="):
        response = shared(edge.url, malformed)
        assert response.status_code == 422, malformed
        assert response.json()["error"]["code"] == "invalid_request"
        assert response.headers.get_list("Cache-Control") == ["no-store"]
    not_an_image = httpx.post(f"{edge.url}/api/v1/shares", files={"file": ("x.png", b"notes", "image/png")})
    assert not_an_image.status_code == 415


def test_a_share_made_through_one_gateway_is_read_through_another(
    torchserve, redis_server, gateway, frames, tmp_path
):
    other = start_gateway(tmp_path, gateway_env(torchserve, redis_server.url, RATE_LIMIT="1000/minute"))
    try:
        image = distinct(frames[4], 30)
        answer = classify(gateway.url, image)
        time.sleep(WRITE_BEHIND_WAIT)
        made = share(other.url, image)  # the other replica finds the answer in the shared cache
        assert made.status_code == 201, made.text
        page = shared(gateway.url, made.json()["id"])
        assert page.status_code == 200, page.text
        assert page.json()["label"] == answer["label"]
    finally:
        other.stop()


def test_a_share_dies_with_the_cached_answer_it_copied(torchserve, redis_server, frames, tmp_path):
    env = gateway_env(torchserve, redis_server.url, RATE_LIMIT="1000/minute", CACHE_TTL_SECONDS="3")
    short_lived = start_gateway(tmp_path, env)
    try:
        image = distinct(frames[5], 30)
        answer = classify(short_lived.url, image)
        time.sleep(1 + WRITE_BEHIND_WAIT)
        made = share(short_lived.url, image)
        assert made.status_code == 201, made.text
        share_id = made.json()["id"]
        redis = redis_server.client()
        [entry] = [key for key in redis.keys("fromsoft:answer:*") if key.decode().endswith(answer["sha256"])]
        share_expiry = redis.execute_command("PEXPIRETIME", f"fromsoft:share:v1:{share_id}")
        assert share_expiry == redis.execute_command("PEXPIRETIME", entry)  # the same moment, not 3 s more
        expires_at = datetime.fromisoformat(made.json()["expires_at"])
        assert expires_at == datetime.fromtimestamp(share_expiry // 1000, UTC)
        assert shared(short_lived.url, share_id).status_code == 200
        wait_until(lambda: shared(short_lived.url, share_id).status_code == 404, 5, "the share to expire")
        assert share(short_lived.url, image).status_code == 404  # the answer it copied is gone too
    finally:
        short_lived.stop()


@pytest.mark.parametrize("redis_trouble", ["stopped", "frozen"])
def test_with_redis_away_making_a_share_is_a_503_and_classifying_goes_on(
    edge, redis_server, frames, redis_trouble
):
    image = distinct(frames[6], 30)
    classify(edge.url, image)
    time.sleep(WRITE_BEHIND_WAIT)
    made = share(edge.url, image)
    assert made.status_code == 201, made.text
    if redis_trouble == "stopped":
        redis_server.stop()
    else:
        redis_server.freeze()
    try:
        refused = share(edge.url, image)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "shares_unavailable"
        assert int(refused.headers["Retry-After"]) >= 1
        reading = shared(edge.url, made.json()["id"])
        assert (reading.status_code, reading.json()["error"]["code"]) == (503, "shares_unavailable")
        assert classify(edge.url, distinct(frames[7], 30 + len(redis_trouble)))["cached"] is False
    finally:
        if redis_trouble == "stopped":
            redis_server.start()
        else:
            redis_server.thaw()
    time.sleep(1.5)  # the breaker's cool-down (REDIS_BREAKER_SECONDS=1 for this gateway)
    if redis_trouble == "frozen":  # the share outlived the pause; a restarted Redis kept nothing
        wait_until(lambda: shared(edge.url, made.json()["id"]).status_code == 200, 10, "shares back")
