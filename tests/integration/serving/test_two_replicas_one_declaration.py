"""Two real TorchServes converge to one declared file: a new default reaches both before `ops.models`
returns, a third started later comes up at the declared default, and an invalid file leaves both
serving their last valid state and saying so. And the KServe example's snapshot of the declared state
starts a TorchServe at the declared default."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from launchers import REPO
from launchers.procs import ManagedProcess, free_ports, wait_until
from launchers.torchserve import TorchServe, declare, start_torchserve, unit_env
from launchers.torchserve import models as run_models
from ops import torchserve_keys
from ops.declared import parse
from ops.kserve_config import model_snapshot


@pytest.fixture(scope="module")
def deployment(model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One declared file (fromsoft 1.0 and 2.0, 1.0 the default) and two replicas converged to it."""
    root = tmp_path_factory.mktemp("deployment")
    declared = declare(model_store, ["fromsoft.mar", "fromsoft-2.0.mar"], root / "models.yaml")
    replicas: list[TorchServe] = []
    try:
        for name in ("a", "b"):
            replicas.append(
                start_torchserve(
                    model_store, root / name, declared_file=declared, status_dir=root / "status", replica=name
                )
            )
        yield {"root": root, "declared": declared, "replicas": replicas, "store": model_store}
    finally:
        for replica in replicas:
            replica.stop()


def models(deployment: dict, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m ops.models ARGS` on the deployment's declared file and replicas."""
    return run_models(deployment["store"], deployment["declared"], deployment["root"] / "status", *args)


def answering_version(replica: TorchServe, frame: bytes) -> str:
    response = replica.predict(frame)
    assert response.status_code == 200, response.text
    return str(response.json()["model"]["version"])


@pytest.fixture(scope="module")
def frame(synthetic_data: Path) -> bytes:
    return sorted((synthetic_data / "FromSoftwareImages" / "sekiro").glob("*.jpg"))[0].read_bytes()


def test_both_replicas_load_the_declared_state_at_start(deployment, frame):
    for replica in deployment["replicas"]:
        status = replica.status()
        assert status.converged
        assert status.ready
        assert status.models["fromsoft"].default == "1.0"
        assert sorted(v.version for v in status.models["fromsoft"].versions) == ["1.0", "2.0"]
        assert answering_version(replica, frame) == "1.0"


def test_set_default_converges_every_replica_before_it_returns(deployment, frame):
    done = models(deployment, "set-default", "fromsoft", "2.0", "--timeout", "120")
    assert "every running replica serves revision" in done.stdout
    for replica in deployment["replicas"]:  # no wait here: the command returned after both converged
        assert answering_version(replica, frame) == "2.0"
    shown = models(deployment, "show", "--json")
    replicas = json.loads(shown.stdout)["replicas"]
    assert [(r["replica"], r["converged"], r["serving"]["fromsoft"]["default"]) for r in replicas] == [
        ("a", True, "2.0"),
        ("b", True, "2.0"),
    ]


def test_a_replica_started_later_comes_up_at_the_declared_default(deployment, frame):
    late = start_torchserve(
        deployment["store"],
        deployment["root"] / "c",
        declared_file=deployment["declared"],
        status_dir=deployment["root"] / "status",
        replica="c",
    )
    try:
        assert late.status().models["fromsoft"].default == "2.0"
        assert answering_version(late, frame) == "2.0"
    finally:
        late.stop()


def test_an_invalid_file_leaves_every_replica_serving_and_is_reported(deployment, frame):
    declared: Path = deployment["declared"]
    good = declared.read_text()
    try:
        declared.write_text(good.replace("workers: 1", "workers: lots", 1))

        def reported() -> bool:
            return all(
                not r.status().declared_valid and r.status().declared_error for r in deployment["replicas"]
            )

        wait_until(reported, 30, "every replica reporting the invalid file")
        for replica in deployment["replicas"]:
            status = replica.status()
            assert "workers" in str(status.declared_error)
            assert status.converged  # to its last valid state, which it keeps serving
            assert answering_version(replica, frame) == "2.0"
        shown = models(deployment, "show")
        assert "INVALID" in shown.stdout
        assert "the declared state is invalid" in (deployment["root"] / "a" / "reconciler.log").read_text()
    finally:
        declared.write_text(good)
    wait_until(lambda: all(r.status().declared_valid for r in deployment["replicas"]), 30, "valid again")


def test_scaling_and_removing_a_version_reach_every_replica(deployment):
    models(deployment, "scale", "fromsoft", "--workers", "2", "--timeout", "120")
    for replica in deployment["replicas"]:
        workers = replica.workers("fromsoft")  # the default version's, from TorchServe itself
        assert [w["status"] for w in workers] == ["READY", "READY"]
    models(deployment, "remove", "fromsoft", "1.0", "--timeout", "120")
    models(deployment, "scale", "fromsoft", "--workers", "1", "--timeout", "120")
    for replica in deployment["replicas"]:
        versions = httpx.get(
            f"{replica.management_url}/models/fromsoft/all", headers=replica.headers("management"), timeout=10
        ).json()
        assert [v["modelVersion"] for v in versions] == ["2.0"]


def test_the_kserve_snapshot_starts_torchserve_at_the_declared_default(model_store, tmp_path):
    """deploy/kserve's configuration: TorchServe alone (no reconciler) loads what it names at start."""
    state = parse(
        'models: {fromsoft: {default: "2.0", versions: {"1.0": {archive: fromsoft.mar},'
        ' "2.0": {archive: fromsoft-2.0.mar}}}}'
    )
    snapshot = json.dumps(model_snapshot(state, model_store))
    ports = free_ports(6)
    env = unit_env(model_store, tmp_path, tmp_path / "unused.yaml", ports, 5 << 20, tmp_path, "kserve")
    server = ManagedProcess(
        [sys.executable, "-m", "ops.torchserve", "--set", f"model_snapshot={snapshot}"],
        tmp_path / "torchserve.log",
        env=env,
        cwd=REPO,
    )
    key_file = tmp_path / "ts" / "key_file.json"
    try:

        def described() -> list[dict]:
            headers = {"Authorization": f"Bearer {torchserve_keys.key(key_file, 'management')}"}
            answer = httpx.get(f"http://127.0.0.1:{ports[1]}/models/fromsoft", headers=headers, timeout=5)
            answer.raise_for_status()
            return answer.json()

        wait_until(
            lambda: described()[0]["workers"][0]["status"] == "READY", 180, "the snapshot's model", server
        )
        assert described()[0]["modelVersion"] == "2.0"
    finally:
        server.stop()
