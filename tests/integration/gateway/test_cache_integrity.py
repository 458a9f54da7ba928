"""Whoever can write to Redis cannot change or break what visitors are told: a cached entry that does not
answer its key (another shape, another image, another model) is a miss, logged, and the model answers."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from launchers.gateway import WRITE_BEHIND_WAIT


def classify(url: str, image: bytes) -> httpx.Response:
    return httpx.post(f"{url}/api/v1/classify", files={"file": ("f.jpg", image, "image/jpeg")}, timeout=60)


@pytest.mark.parametrize(
    "forge",
    [
        lambda entry, other: {"label": "sekiro", "probabilities": "all of them"},  # another shape
        lambda entry, other: other,  # a real answer, of another image
        lambda entry, other: {**entry, "model": {**entry["model"], "version": "9.9"}},  # another version
        lambda entry, other: "not json at all",
    ],
    ids=["wrong-shape", "another-image", "another-version", "not-json"],
)
def test_a_forged_cache_entry_is_a_logged_miss_not_a_500(gateway, redis_server, frames, forge):
    redis = redis_server.client()
    redis.flushall()
    first, other = classify(gateway.url, frames[5]), classify(gateway.url, frames[6])
    assert first.status_code == other.status_code == 200
    time.sleep(WRITE_BEHIND_WAIT)
    [key] = [k for k in redis.keys("fromsoft:answer:*") if k.decode().endswith(first.json()["sha256"])]
    entry = json.loads(redis.get(key))
    other_entry = json.loads(redis.get(key.decode().replace(first.json()["sha256"], other.json()["sha256"])))
    forged = forge(entry, other_entry)
    redis.set(key, forged if isinstance(forged, str) else json.dumps(forged))

    again = classify(gateway.url, frames[5])
    assert again.status_code == 200, again.text
    assert again.json()["cached"] is False  # the model answered
    assert again.json()["label"] == first.json()["label"]
    assert again.json()["sha256"] == first.json()["sha256"]
    metrics = httpx.get(f"{gateway.url}/metrics").text
    assert 'gateway_cache_lookups_total{result="rejected"}' in metrics
    assert "a cached entry does not answer its key" in gateway.proc.log_path.read_text()
