"""A canary in a real TorchServe, compared by the real gateway: the same archive as the default agrees on
every comparison, a different model (the tiny architecture trained again, for one epoch) disagrees and
each disagreement is counted, and the visitor's answer always comes from the default. The images
compared are the ones the sample's secret in Redis picks, the same at every gateway; each client's
images feed at most its budget of comparisons. `ops.models promote` refuses with fewer comparisons than
inference.canary.PROMOTION asks and promotes after enough."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from benchmarks.common.images import distinct
from gateway.breaker import CircuitBreaker
from gateway.cache import image_digest
from gateway.canary import SampleSecret
from inference.canary import PROMOTION, SECRET_KEY, shadowed
from launchers.gateway import gateway_env, start_gateway
from launchers.procs import LoopbackServer, wait_until
from launchers.redis import RedisServer
from launchers.torchserve import TorchServe, start_torchserve
from ops.declared import DeclaredState, ModelSpec, VersionSpec, write
from tests.conftest import run_cli, tiny_run
from tests.support.handler_log import handler_lines

UNBOUNDED = {"RATE_LIMIT": "10000/minute", "CANARY_CLIENT_LIMIT": "100000/hour"}


@pytest.fixture(scope="module")
def store(model_store: Path, synthetic_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1.0 and 2.0 (one trained run, twice), and 9.0: another run of one epoch, a different model."""
    folder = tmp_path_factory.mktemp("canary-store")
    for archive in ("fromsoft.mar", "fromsoft-2.0.mar"):
        shutil.copy(model_store / archive, folder / archive)
    other = tiny_run(synthetic_data, tmp_path_factory.mktemp("other-run"), seed=3, epochs=1, lr=0.01)
    run_cli(
        "export",
        other,
        "--model-store",
        folder,
        "--version",
        "9.0",
        "--archive-name",
        "fromsoft-9.0",
        "--timing-runs",
        "2",
    )
    return folder


@pytest.fixture(scope="module")
def serving(
    store: Path, redis_server: RedisServer, tmp_path_factory
) -> Iterator[tuple[TorchServe, LoopbackServer]]:
    root = tmp_path_factory.mktemp("canary")
    versions = {
        v: VersionSpec(archive=a)
        for v, a in [("1.0", "fromsoft.mar"), ("2.0", "fromsoft-2.0.mar"), ("9.0", "fromsoft-9.0.mar")]
    }
    declared = root / "models.yaml"
    write(declared, DeclaredState(models={"fromsoft": ModelSpec(default="1.0", versions=versions)}))
    torchserve = start_torchserve(store, root, declared_file=declared)
    gateway = start_gateway(root, gateway_env(torchserve, redis_server.url, **UNBOUNDED), workers=1)
    yield torchserve, gateway
    gateway.stop()
    torchserve.stop()


def classify_new(
    gateway: LoopbackServer, frames: list[bytes], count: int, first: int, client: str = "198.51.100.80"
) -> list[str]:
    """``count`` images never sent before, one at a time, from ``client``: the version each answer came
    from."""
    versions = []
    for n in range(count):
        image = distinct(frames[n % len(frames)], first + n)
        answer = httpx.post(
            f"{gateway.url}/api/v1/classify",
            files={"file": ("f.jpg", image, "image/jpeg")},
            headers={"X-Forwarded-For": client},  # the test is a trusted proxy (loopback)
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        versions.append(answer.json()["model"]["version"])
        time.sleep(0.05)  # each shadow call has finished before the next: none skipped
    return versions


def canary_figures(gateway: LoopbackServer) -> dict:
    return httpx.get(f"{gateway.url}/api/v1/models", timeout=10).json()["models"][0]["canary"]


def set_canary(torchserve: TorchServe, gateway: LoopbackServer, version: str, share: float = 1.0) -> None:
    torchserve.models("canary", "fromsoft", version, "--share", str(share))
    wait_until(
        lambda: (
            (canary_figures(gateway) or {}).get("share") == share
            and canary_figures(gateway)["version"] == version
        ),
        30,
        f"canary {version} at {share} seen",
    )


def test_the_same_archive_agrees_on_every_comparison_and_visitors_get_the_default(
    serving, frames, redis_server
):
    torchserve, gateway = serving
    redis_server.client().flushall()
    set_canary(torchserve, gateway, "2.0")
    assert set(classify_new(gateway, frames, 10, 1000)) == {"1.0"}
    wait_until(lambda: canary_figures(gateway)["figures"]["comparisons"] == 10, 20, "ten comparisons")
    figures = canary_figures(gateway)["figures"]
    assert (figures["agreement"], figures["errors"], figures["skipped"]) == (1.0, 0, 0)
    metrics = httpx.get(f"{gateway.url}/metrics").text
    assert (
        'gateway_canary_comparisons_total{candidate="2.0",model="fromsoft",outcome="agree"} 10.0' in metrics
    )
    assert "gateway_answers_total{label=" in metrics  # the drift counters count the model's answers


def test_a_different_model_disagrees_and_each_disagreement_is_counted(serving, frames):
    torchserve, gateway = serving
    set_canary(torchserve, gateway, "9.0")
    assert set(classify_new(gateway, frames, 12, 2000)) == {"1.0"}
    wait_until(lambda: canary_figures(gateway)["figures"]["comparisons"] == 12, 20, "twelve comparisons")
    figures = canary_figures(gateway)["figures"]
    assert figures["agreement"] < 1.0
    metrics = httpx.get(f"{gateway.url}/metrics").text
    disagreed = next(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith(
            'gateway_canary_comparisons_total{candidate="9.0",model="fromsoft",outcome="disagree"}'
        )
    )
    assert disagreed == round(12 * (1 - figures["agreement"]))


def test_promote_refuses_with_too_few_comparisons_and_promotes_after_enough(serving, frames, redis_server):
    torchserve, gateway = serving
    set_canary(torchserve, gateway, "2.0")  # its 10 comparisons of the first test are still counted
    enough = PROMOTION.min_comparisons
    with pytest.raises(RuntimeError, match=rf"not promoted: 10 comparisons, fewer than {enough}"):
        torchserve.models("promote", "fromsoft", REDIS_URL=redis_server.url)
    classify_new(gateway, frames, enough - 10, 3000)
    wait_until(
        lambda: canary_figures(gateway)["figures"]["comparisons"] == enough, 60, f"{enough} comparisons"
    )
    done = torchserve.models("promote", "fromsoft", REDIS_URL=redis_server.url)
    assert f"2.0 against 1.0: {enough} comparisons, agreement 100.0%" in done.stdout
    assert set(classify_new(gateway, frames, 3, 4000)) == {"2.0"}
    assert canary_figures(gateway) is None  # promoted: no canary any more


def test_gateways_sharing_a_redis_read_one_sample_secret_made_once(redis_server):
    """Four gateways' first reads at once (as replicas starting together): one secret, made by one of
    them; once Redis has lost it (a restart, a flush), the next reads agree on a new one."""

    async def read_at_once() -> set[bytes | None]:
        redis = Redis.from_url(redis_server.url, socket_timeout=1)
        secrets = [SampleSecret(redis, CircuitBreaker(3, 1)) for _ in range(4)]
        found = set(await asyncio.gather(*(secret.read() for secret in secrets)))
        await redis.aclose()
        return found

    redis_server.client().delete(SECRET_KEY)
    [first] = asyncio.run(read_at_once())
    assert first is not None
    assert len(first) == 64  # 32 random bytes, in hex
    assert redis_server.client().get(SECRET_KEY) == first
    redis_server.client().delete(SECRET_KEY)
    [second] = asyncio.run(read_at_once())
    assert second not in (None, first)


def test_two_gateways_compare_the_same_images_the_ones_the_secret_picks(
    serving, frames, redis_server, tmp_path
):
    """Half the images, by the secret: each image sent to both gateways (as a miss at each) is compared by
    both or by neither, and exactly when inference.canary.shadowed says so under the secret in Redis. A
    compared request reaches the model twice under its ID: the default, then the canary."""
    torchserve, first_gateway = serving
    env = gateway_env(torchserve, redis_server.url, **UNBOUNDED)
    gateways = [
        start_gateway(tmp_path / name, env) for name in ("a", "b") if (tmp_path / name).mkdir() is None
    ]
    try:
        set_canary(torchserve, first_gateway, "9.0", share=0.5)
        for gateway in gateways:
            wait_until(lambda g=gateway: (canary_figures(g) or {}).get("share") == 0.5, 30, "the canary seen")
        images = [distinct(frames[n % len(frames)], 7000 + n) for n in range(16)]
        sent: dict[str, list[str]] = {image_digest(image): [] for image in images}
        for gateway, top_k in zip(gateways, (3, 2), strict=True):  # another top_k: a miss at each
            for image in images:
                answer = httpx.post(
                    f"{gateway.url}/api/v1/classify",
                    params={"top_k": top_k},
                    files={"file": ("f.jpg", image, "image/jpeg")},
                    timeout=60,
                )
                assert answer.status_code == 200, answer.text
                sent[image_digest(image)].append(answer.headers["X-Request-ID"])
                time.sleep(0.05)  # each shadow call under way has finished: none skipped
    finally:
        for gateway in gateways:
            gateway.stop()
    secret = redis_server.client().get(SECRET_KEY)
    picked = {sha: shadowed(secret, sha, 0.5) for sha in sent}
    assert set(picked.values()) == {True, False}

    def calls(request_id: str) -> int:
        return len(handler_lines(torchserve, request_id))

    for sha, ids in sent.items():
        wait_until(lambda ids=ids, n=1 + picked[sha]: all(calls(i) == n for i in ids), 20, f"{sha}'s calls")
    time.sleep(1)  # a shadow call nobody expected would have come by now
    assert {sha: [calls(i) == 2 for i in ids] for sha, ids in sent.items()} == {
        sha: [picked[sha]] * 2 for sha in sent
    }


def test_one_clients_images_feed_at_most_its_budget_of_comparisons(serving, frames, redis_server, tmp_path):
    """CANARY_CLIENT_LIMIT 3 an hour: a client's fourth and fifth compared images are skipped, and another
    client's images are still compared."""
    torchserve, first_gateway = serving
    env = gateway_env(torchserve, redis_server.url, RATE_LIMIT="10000/minute", CANARY_CLIENT_LIMIT="3/hour")
    gateway = start_gateway(tmp_path, env)
    try:
        set_canary(torchserve, first_gateway, "9.0")
        wait_until(lambda: (canary_figures(gateway) or {}).get("share") == 1.0, 30, "the canary seen")
        classify_new(gateway, frames, 5, 8000, client="198.51.100.81")
        classify_new(gateway, frames, 2, 8100, client="198.51.100.82")

        def outcomes() -> dict[str, float]:
            metrics = httpx.get(f"{gateway.url}/metrics").text
            prefix = 'gateway_canary_comparisons_total{candidate="9.0",model="fromsoft",outcome="'
            return {
                line[len(prefix) :].split('"')[0]: float(line.rsplit(" ", 1)[1])
                for line in metrics.splitlines()
                if line.startswith(prefix)
            }

        wait_until(lambda: sum(outcomes().values()) == 7, 20, "seven outcomes")
        counted = outcomes()
    finally:
        gateway.stop()
    assert counted.get("over_budget") == 2, counted
    assert counted.get("agree", 0) + counted.get("disagree", 0) == 5, counted
