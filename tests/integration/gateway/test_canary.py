"""A canary in a real TorchServe, compared by the real gateway: the same archive as the default agrees on
every comparison, a different model (the tiny architecture trained again, for one epoch) disagrees and
each disagreement is counted, and the visitor's answer always comes from the default. `ops.models
promote` refuses with too few comparisons and promotes after enough."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from benchmarks.common.images import distinct
from launchers.gateway import gateway_env, start_gateway
from launchers.procs import LoopbackServer, wait_until
from launchers.redis import RedisServer
from launchers.torchserve import TorchServe, start_torchserve
from ops.declared import DeclaredState, ModelSpec, VersionSpec, write
from tests.conftest import run_cli, tiny_run


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
    gateway = start_gateway(
        root, gateway_env(torchserve, redis_server.url, RATE_LIMIT="10000/minute"), workers=1
    )
    yield torchserve, gateway
    gateway.stop()
    torchserve.stop()


def classify_new(gateway: LoopbackServer, frames: list[bytes], count: int, first: int) -> list[str]:
    """``count`` images never sent before, one at a time: the version each answer came from."""
    versions = []
    for n in range(count):
        image = distinct(frames[n % len(frames)], first + n)
        answer = httpx.post(
            f"{gateway.url}/api/v1/classify", files={"file": ("f.jpg", image, "image/jpeg")}, timeout=60
        )
        assert answer.status_code == 200, answer.text
        versions.append(answer.json()["model"]["version"])
        time.sleep(0.05)  # each shadow call has finished before the next: none skipped
    return versions


def canary_figures(gateway: LoopbackServer) -> dict:
    return httpx.get(f"{gateway.url}/api/v1/models", timeout=10).json()["models"][0]["canary"]


def set_canary(torchserve: TorchServe, gateway: LoopbackServer, version: str) -> None:
    torchserve.models("canary", "fromsoft", version, "--share", "1.0")
    wait_until(
        lambda: (canary_figures(gateway) or {}).get("version") == version, 30, f"canary {version} seen"
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
    with pytest.raises(RuntimeError, match=r"not promoted: 10 comparisons, fewer than 30"):
        torchserve.models("promote", "fromsoft", REDIS_URL=redis_server.url)
    classify_new(gateway, frames, 20, 3000)
    wait_until(lambda: canary_figures(gateway)["figures"]["comparisons"] == 30, 20, "thirty comparisons")
    done = torchserve.models("promote", "fromsoft", REDIS_URL=redis_server.url)
    assert "2.0 against 1.0: 30 comparisons, agreement 100.0%" in done.stdout
    assert set(classify_new(gateway, frames, 3, 4000)) == {"2.0"}
    assert canary_figures(gateway) is None  # promoted: no canary any more
