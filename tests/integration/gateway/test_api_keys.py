"""Clients' API keys against the real stack: two gateways (one of two workers) behind one nginx, sharing
one Redis and one store, over the session TorchServe reached through a slow hop that counts the calls at
the model at once. Each key's rate, daily quota and concurrency hold across both gateways under
concurrent requests; keys are made, rotated and revoked with the real operator's tool."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from http_sf import parse
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.common.images import distinct
from launchers import REPO
from launchers.gateway import feedback_env, gateway_env, start_gateway
from launchers.nginx import start_nginx
from launchers.procs import LoopbackServer, ManagedProcess, free_port, wait_until
from launchers.redis import RedisServer
from launchers.torchserve import TorchServe
from tests.support.feedback import held, post_feedback
from tests.support.keys import keyed_classify, keys_tool, make_key, me, prefix

LEASE_SECONDS = 1.5  # short, so that a slow call outlives it: only renewal keeps its place


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The store both gateways and the operator's tool share: a SQLite file, the pepper, the votes' key."""
    return feedback_env(tmp_path_factory.mktemp("keys-store"))


@pytest.fixture(scope="module")
def upstream(torchserve: TorchServe, tmp_path_factory) -> Iterator[LoopbackServer]:
    port = free_port()
    argv = [sys.executable, "-m", "tests.support.slow_upstream", "--port", str(port)]
    argv += ["--target", torchserve.inference_url]
    log = tmp_path_factory.mktemp("slow-upstream") / "upstream.log"
    server = LoopbackServer(ManagedProcess(argv, log, cwd=REPO), port)
    wait_until(lambda: httpx.get(f"{server.url}/_in_flight").status_code == 200, 30, "slow upstream")
    yield server
    server.stop()


def replica_env(torchserve: TorchServe, redis_server: RedisServer, store: dict, upstream) -> dict:
    # Redis's timeout raised from 50 ms: keyed requests fail closed, and a loaded test machine would
    # otherwise turn a slow answer into a 503 (tests/integration/gateway/test_gateway.py times the 50 ms).
    return gateway_env(
        torchserve,
        redis_server.url,
        TORCHSERVE_INFERENCE_URL=upstream.url,
        RATE_LIMIT="100000/minute",
        REDIS_TIMEOUT="2",
        REDIS_BREAKER_SECONDS="1",
        API_KEY_CACHE_SECONDS="1",
        API_KEY_LEASE_SECONDS=str(LEASE_SECONDS),
        **store,
    )


@pytest.fixture(scope="module")
def replicas(torchserve, redis_server, store, upstream, tmp_path_factory) -> Iterator[list[LoopbackServer]]:
    env = replica_env(torchserve, redis_server, store, upstream)
    servers = [
        start_gateway(tmp_path_factory.mktemp("keyed-gateway"), env, workers=workers) for workers in (2, 1)
    ]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def lens(replicas: list[LoopbackServer], web_root: Path, tmp_path_factory) -> Iterator[LoopbackServer]:
    server = start_nginx(tmp_path_factory.mktemp("keyed-nginx"), [g.port for g in replicas], web_root)
    yield server
    server.stop()


@pytest.fixture
def slow(upstream: LoopbackServer) -> Iterator[Callable[[float], None]]:
    """Hold every call at the model this long; the count of calls at once starts again."""

    def hold(seconds: float) -> None:
        httpx.post(f"{upstream.url}/_delay", params={"seconds": seconds}).raise_for_status()
        httpx.post(f"{upstream.url}/_reset").raise_for_status()

    yield hold
    hold(0)


def most_at_the_model(upstream: LoopbackServer) -> int:
    return int(httpx.get(f"{upstream.url}/_in_flight").json()["most"])


def code(response: httpx.Response) -> str:
    return response.json()["error"]["code"] if response.status_code >= 400 else "ok"


def at_once(send: Callable[[int], httpx.Response], count: int) -> list[httpx.Response]:
    """``count`` requests released together, each from its own thread."""
    start = threading.Barrier(count)

    def one(n: int) -> httpx.Response:
        start.wait()
        return send(n)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def key_series(gateway: LoopbackServer, name: str) -> dict[tuple[str, ...], float]:
    text = httpx.get(f"{gateway.url}/metrics").text
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def test_a_keyed_answer_carries_its_keys_ratelimit_fields_and_me_counts_only_answered_units(
    lens, store, frames
):
    key = make_key(store, "fields", "--rate", "30/minute", "--burst", "10", "--daily", "50")
    answered = keyed_classify(lens.url, distinct(frames[0], 700), key)
    assert answered.status_code == 200, answered.text
    policies = dict(parse(answered.headers["RateLimit-Policy"].encode(), tltype="list"))
    assert policies == {
        "rate": {"q": 10, "w": 20},  # a burst of 10, refilled at 30 a minute: 10 units in 20 s
        "daily": {"q": 50, "w": 86400},
        "concurrency": {"q": 4, "qu": "concurrent-requests"},
    }
    left = dict(parse(answered.headers["RateLimit"].encode(), tltype="list"))
    assert left["rate"]["r"] == 9
    assert left["daily"]["r"] == 49  # its own unit reserved while it ran
    assert left["concurrency"]["r"] == 3
    refused = keyed_classify(lens.url, b"not an image", key)  # a 415: answered, but not a 2xx
    assert refused.status_code == 415
    assert "RateLimit" in refused.headers
    bearer = httpx.post(
        f"{lens.url}/api/v1/classify",
        files={"file": ("shot.jpg", distinct(frames[0], 701), "image/jpeg")},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert bearer.status_code == 200, bearer.text
    usage = me(lens.url, key).json()
    assert usage["key"] == f"fsl_{prefix(key)}"
    assert key not in str(usage)
    assert usage["limits"] == {"rate": "30/minute", "burst": 10, "daily": 50, "concurrency": 4}
    assert usage["usage"]["daily_used"] == 2  # the two answers; the 415 cost rate, not quota
    assert usage["usage"]["daily_remaining"] == 48
    assert usage["usage"]["in_flight"] == 0
    anonymous = httpx.get(f"{lens.url}/api/v1/me")
    assert (anonymous.status_code, code(anonymous)) == (401, "invalid_api_key")


def test_a_malformed_unknown_wrong_or_revoked_key_is_a_401_and_never_the_addresses_limits(
    lens, store, frames
):
    key = make_key(store, "doomed")
    image = distinct(frames[1], 710)
    wrong = [
        "fsl_nope",
        f"fsl_{'a' * 8}_{'A' * 43}",  # well formed, unknown
        f"fsl_{prefix(key)}_{'B' * 43}",  # a real prefix, another secret
    ]
    for bad in wrong:
        response = keyed_classify(lens.url, image, bad)
        assert (response.status_code, code(response)) == (401, "invalid_api_key"), bad
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert keyed_classify(lens.url, image, key).status_code == 200
    revoked = keys_tool(store, "revoke", f"fsl_{prefix(key)}")
    assert revoked.returncode == 0, revoked.stderr
    # API_KEY_CACHE_SECONDS is 1 here: every gateway and worker refuses it within that.
    wait_until(lambda: keyed_classify(lens.url, image, key).status_code == 401, 5, "the revoked key refused")
    for _ in range(6):  # every gateway and worker, not only the one asked first
        assert code(keyed_classify(lens.url, image, key)) == "invalid_api_key"


def test_a_rotated_key_keeps_working_for_its_grace_beside_the_new_one(lens, store, frames):
    old = make_key(store, "rotating", "--daily", "77")
    rotated = keys_tool(store, "rotate", prefix(old), "--grace", "3600")
    assert rotated.returncode == 0, rotated.stderr
    new = rotated.stdout.strip()
    assert prefix(new) != prefix(old)
    image = distinct(frames[2], 720)
    assert keyed_classify(lens.url, image, old).status_code == 200
    assert keyed_classify(lens.url, image, new).status_code == 200
    assert me(lens.url, new).json()["limits"]["daily"] == 77
    assert me(lens.url, old).json()["expires_at"] is not None
    listed = keys_tool(store, "list")
    assert f"fsl_{prefix(new)}" in listed.stdout
    assert old not in listed.stdout  # only prefixes: the store has no key to show
    assert new not in listed.stdout
    assert keys_tool(store, "revoke", prefix(old)).returncode == 0
    wait_until(lambda: keyed_classify(lens.url, image, old).status_code == 401, 5, "the old key refused")
    assert keyed_classify(lens.url, image, new).status_code == 200


def test_a_key_may_do_only_what_its_scopes_allow(lens, store, frames):
    key = make_key(store, "singles", "--scopes", "classify")
    assert keyed_classify(lens.url, distinct(frames[3], 730), key).status_code == 200
    batch = httpx.post(
        f"{lens.url}/api/v1/classify/batch",
        files=[("files", ("a.jpg", distinct(frames[3], 731), "image/jpeg"))],
        headers={"X-API-Key": key},
        timeout=60,
    )
    assert (batch.status_code, code(batch)) == (403, "insufficient_scope"), batch.text
    assert "batch" in batch.json()["error"]["message"]
    vote = httpx.post(
        f"{lens.url}/api/v1/feedback",
        files={"sha256": (None, "0" * 64), "verdict": (None, "right")},
        headers={"X-API-Key": key},
        timeout=30,
    )
    assert (vote.status_code, code(vote)) == (403, "insufficient_scope")
    assert me(lens.url, key).json()["usage"]["daily_used"] == 1  # refusals count nothing


def test_a_keys_burst_holds_across_both_gateways_under_concurrent_requests(lens, replicas, store, frames):
    key = make_key(store, "bursty", "--rate", "3/minute", "--concurrency", "12", "--daily", "100")
    answers = at_once(lambda n: keyed_classify(lens.url, distinct(frames[4], 740 + n), key), 10)
    assert Counter(code(a) for a in answers) == {"ok": 3, "rate_limited": 7}
    for refused in (a for a in answers if a.status_code == 429):
        assert 1 <= int(refused.headers["Retry-After"]) <= 21  # a unit back every 20 s
        assert dict(parse(refused.headers["RateLimit"].encode(), tltype="list"))["rate"]["r"] == 0
    counted = [
        key_series(g, "gateway_key_requests_total").get((("key", f"fsl_{prefix(key)}"),), 0) for g in replicas
    ]
    assert all(counted), counted  # both gateways took part
    assert sum(counted) == 10


def test_the_daily_quota_counts_only_answered_units_and_holds_across_both_gateways(lens, store, frames):
    key = make_key(store, "daily", "--rate", "100/second", "--daily", "4", "--concurrency", "12")
    for n in range(3):
        assert keyed_classify(lens.url, b"\xff\xd8 not a jpeg %d" % n, key).status_code in (400, 415)
    assert me(lens.url, key).json()["usage"]["daily_used"] == 0
    mixed = httpx.post(
        f"{lens.url}/api/v1/classify/batch",
        files=[
            ("files", ("a.jpg", distinct(frames[5], 750), "image/jpeg")),
            ("files", ("b.jpg", b"no image at all", "image/jpeg")),
        ],
        headers={"X-API-Key": key},
        timeout=60,
    )
    assert mixed.status_code == 200, mixed.text
    assert me(lens.url, key).json()["usage"]["daily_used"] == 1  # the answered file only
    answers = at_once(lambda n: keyed_classify(lens.url, distinct(frames[5], 760 + n), key), 8)
    assert Counter(code(a) for a in answers) == {"ok": 3, "quota_exhausted": 5}
    for refused in (a for a in answers if a.status_code == 429):
        assert 3600 < int(refused.headers["Retry-After"]) <= 86400  # when the first unit leaves the 24 h
        assert "quota" in refused.json()["error"]["message"]
    usage = me(lens.url, key).json()["usage"]
    assert (usage["daily_used"], usage["daily_remaining"]) == (4, 0)


def send_until_admitted(base: str, image: bytes, key: str) -> tuple[httpx.Response, int]:
    """A client that waits out ``concurrency_limited`` as it says; its answer and how often it waited."""
    waits = 0
    while True:
        response = keyed_classify(base, image, key)
        if code(response) != "concurrency_limited":
            return response, waits
        waits += 1
        time.sleep(0.3)


def test_a_keys_concurrency_is_never_exceeded_across_both_gateways_even_past_its_lease(
    lens, replicas, upstream, store, frames, slow
):
    key = make_key(store, "parallel", "--rate", "100/second", "--concurrency", "2", "--daily", "1000")
    slow(LEASE_SECONDS * 1.7)  # each call outlives its lease: only renewal keeps its place
    answers = at_once(lambda n: send_until_admitted(lens.url, distinct(frames[6], 770 + n), key), 6)
    assert [response.status_code for response, _ in answers] == [200] * 6
    assert most_at_the_model(upstream) == 2
    assert sum(waits for _, waits in answers) > 0
    counted = [
        key_series(g, "gateway_key_requests_total").get((("key", f"fsl_{prefix(key)}"),), 0) for g in replicas
    ]
    assert all(counted), counted
    assert me(lens.url, key).json()["usage"]["in_flight"] == 0


def test_a_killed_gateways_places_lapse_and_free_the_key(
    lens, torchserve, redis_server, store, upstream, frames, slow, tmp_path
):
    key = make_key(store, "orphaned", "--rate", "100/second", "--concurrency", "1")
    doomed = start_gateway(tmp_path, replica_env(torchserve, redis_server, store, upstream))
    slow(8)

    def held_at_the_model() -> None:
        with contextlib.suppress(httpx.HTTPError):  # its gateway is killed under it
            keyed_classify(doomed.url, distinct(frames[7], 780), key, timeout=20)

    pending = threading.Thread(target=held_at_the_model)
    pending.start()
    wait_until(
        lambda: httpx.get(f"{upstream.url}/_in_flight").json()["now"] == 1, 20, "the call at the model"
    )
    doomed.proc.signal(signal.SIGKILL)
    doomed.stop()
    slow(0)
    assert code(keyed_classify(lens.url, distinct(frames[7], 781), key)) == "concurrency_limited"
    started = time.monotonic()
    wait_until(
        lambda: keyed_classify(lens.url, distinct(frames[7], 782), key).status_code == 200,
        15,
        "the place back",
    )
    assert time.monotonic() - started < LEASE_SECONDS + 10
    pending.join()


def test_while_redis_is_away_keyed_requests_fail_closed_and_anonymous_ones_go_on(
    lens, redis_server, store, frames
):
    key = make_key(store, "closed")
    assert keyed_classify(lens.url, distinct(frames[8], 790), key).status_code == 200
    redis_server.freeze()
    try:
        for n in range(4):  # Redis's timeout, then the breaker: each gateway and worker
            refused = keyed_classify(lens.url, distinct(frames[8], 791 + n), key)
            assert (refused.status_code, code(refused)) == (503, "keys_unavailable"), refused.text
            assert int(refused.headers["Retry-After"]) >= 1
        assert keyed_classify(lens.url, distinct(frames[8], 799), None).status_code == 200
    finally:
        redis_server.thaw()
    wait_until(
        lambda: keyed_classify(lens.url, distinct(frames[8], 800), key).status_code == 200, 20, "keys back"
    )


def test_a_vote_sent_with_a_key_is_the_keys_and_one_without_is_the_addresses(
    lens, store, redis_server, frames
):
    key = make_key(store, "voter", "--scopes", "classify,feedback")
    image = distinct(frames[9], 810)
    answer = {
        "sha256": hashlib.sha256(image).hexdigest()
    }  # the vote carries the image: nothing cached needed
    vote = post_feedback(lens.url, image, "right")
    assert vote.status_code == 201, vote.text  # anonymous: the keyed hash of the address's bucket
    keyed_vote = httpx.post(
        f"{lens.url}/api/v1/feedback",
        files={
            "sha256": (None, answer["sha256"]),
            "verdict": (None, "not_a_game"),
            "file": ("shot.jpg", image, "image/jpeg"),
        },
        headers={"X-API-Key": key},
        timeout=30,
    )
    assert keyed_vote.status_code == 201, keyed_vote.text  # another voter, not the address's vote updated
    votes = {
        client: verdict
        for (sha, client), (verdict, _, _) in held(store["DATABASE_URL"]).votes.items()
        if sha == answer["sha256"]
    }
    assert votes.pop(f"fsl_{prefix(key)}") == "not_a_game"
    assert list(votes.values()) == ["right"]


def test_metrics_count_each_keys_requests_and_refusals_by_its_prefix_never_its_secret(
    lens, replicas, store, frames
):
    key = make_key(store, "counted", "--rate", "1/hour", "--daily", "10")
    assert keyed_classify(lens.url, distinct(frames[10], 820), key).status_code == 200
    assert code(keyed_classify(lens.url, distinct(frames[10], 821), key)) == "rate_limited"
    assert code(keyed_classify(lens.url, distinct(frames[10], 822), f"fsl_{prefix(key)}_{'C' * 43}")) == (
        "invalid_api_key"
    )
    requests: Counter[str] = Counter()
    refusals: Counter[tuple[str, str]] = Counter()
    answered: Counter[str] = Counter()
    for gateway in replicas:
        for labels, value in key_series(gateway, "gateway_key_requests_total").items():
            requests[dict(labels)["key"]] += int(value)
        for labels, value in key_series(gateway, "gateway_key_refusals_total").items():
            refusals[(dict(labels)["key"], dict(labels)["reason"])] += int(value)
        for labels, value in key_series(gateway, "gateway_key_answered_units_total").items():
            answered[dict(labels)["key"]] += int(value)
        assert key.split("_", 2)[2] not in httpx.get(f"{gateway.url}/metrics").text
    public = f"fsl_{prefix(key)}"
    assert (requests[public], refusals[(public, "rate")], answered[public]) == (2, 1, 1)
    assert refusals[("unknown", "invalid")] >= 1
    assert all(k == "unknown" or k.startswith("fsl_") for k, _ in refusals)


def folder_cli(
    base: str, folder: Path, env: dict[str, str], *options: str
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "client", "classify", str(folder), "--api", base, "--json", *options]
    return subprocess.run(
        argv, cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=300
    )


def test_the_folder_cli_sends_its_key_from_fsl_api_key_or_api_key(lens, store, frames, tmp_path):
    for n in range(3):
        (tmp_path / f"shot-{n}.jpg").write_bytes(distinct(frames[11], 830 + n))
    key = make_key(store, "archive-sorter", "--daily", "100")
    run = folder_cli(lens.url, tmp_path, {"FSL_API_KEY": key})
    assert run.returncode == 0, run.stderr
    # the limits view (GET /api/v1/models) and the files, all on the key
    assert me(lens.url, key).json()["usage"]["daily_used"] == 1 + 3
    singles = make_key(store, "singles-only", "--scopes", "classify")
    refused = folder_cli(lens.url, tmp_path, {}, "--api-key", singles)
    assert refused.returncode == 1
    assert refused.stdout.count("insufficient_scope") == 3
    wrong = folder_cli(lens.url, tmp_path, {"FSL_API_KEY": f"fsl_{prefix(key)}_{'D' * 43}"})
    assert wrong.returncode == 1
    assert "API key is not known" in wrong.stderr
