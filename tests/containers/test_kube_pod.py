"""The Kubernetes serving pod (deploy/k8s/base/serving.yaml) under `podman kube play`, with two replicas.

Both pods come up at the declared default from the `models` ConfigMap; the declaration changed and the
pods replaced, both report the new default. podman runs the pod template, not a cluster: Services, the
HPA, NetworkPolicies and readiness probes are not run, so this tests the pod, and the test overlay drops
`ports` (podman publishes every containerPort on the host, so a second replica would clash). The gateway
finds no Redis here and serves without its cache, as it does whenever Redis is away.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from launchers.procs import wait_until
from ops.declared import DeclaredState, ModelSpec, VersionSpec
from tests.conftest import REPO
from tests.support.compose import ARTIFACTS, podman

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
NAME = "fromsoft-kube-test"
STORE = f"{NAME}-store"


def declared(default: str) -> str:
    versions = {v: VersionSpec(archive=a) for v, a in (("1.0", "fromsoft.mar"), ("2.0", "fromsoft-2.0.mar"))}
    state = DeclaredState(models={"fromsoft": ModelSpec(default=default, versions=versions)})
    return yaml.safe_dump(state.document())


def pod_yaml(default: str) -> str:
    """The ConfigMap kustomize generates and the serving Deployment, as a test overlay: two replicas, no
    ports, the test's own names and model-store volume."""
    deployment = next(
        d
        for d in yaml.safe_load_all((REPO / "deploy/k8s/base/serving.yaml").read_text())
        if d["kind"] == "Deployment"
    )
    deployment["metadata"]["name"] = NAME
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    spec["containers"] = [{k: v for k, v in c.items() if k != "ports"} for c in spec["containers"]]
    for container in spec["containers"]:  # the probes name the ports by name; podman runs none anyway
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            container.pop(probe, None)
    for volume in spec["volumes"]:
        if "persistentVolumeClaim" in volume:
            volume["persistentVolumeClaim"]["claimName"] = STORE
        if (
            "secret" in volume
        ):  # podman 4.3 panics on a Secret volume in a Deployment: the same file, a ConfigMap
            volume["configMap"] = {"name": volume.pop("secret")["secretName"]}
    # The migrating init container is left out: podman 4.3 fails every play with one ("failed to remove
    # once init container ... as it is running"), and there is no PostgreSQL here to migrate.
    spec.pop("initContainers")
    for container in spec["containers"]:
        for variable in container.get("env", []):
            if "secretKeyRef" in variable.get("valueFrom", {}):
                variable.pop("valueFrom")
                variable["value"] = "sqlite:////tmp/lens.sqlite3"
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "models"},
        "data": {"models.yaml": declared(default)},
    }
    password = {  # the Secret the operator creates (deploy/k8s/base/redis.yaml), which the gateway reads
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "redis-auth"},
        "data": {"redis-password": "kube-play-test"},
    }
    edge_key = {  # the Secret the operator creates (deploy/k8s/base/web.yaml), which the gateway reads
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "edge-key"},
        "data": {"key": "kube-play-test-edge-key"},
    }
    store = {  # the feedback store's Secret (deploy/k8s/base/postgres.yaml), as the same kind of ConfigMap
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "feedback-store"},
        "data": {
            "database-password": "kube-play-test",
            "feedback-key": "kube-play-key",
            "api-key-pepper": "kube-play-pepper",  # serving.yaml mounts it for the gateways' API keys
        },
    }
    assert deployment["spec"]["replicas"] == 2
    return yaml.safe_dump_all([config_map, password, edge_key, store, deployment])


@pytest.fixture(scope="module")
def kube(images: None, model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The test's model-store volume filled with the session's archives; what kube play made, removed."""
    work = tmp_path_factory.mktemp("kube")
    manifest = work / "serving.yaml"
    manifest.write_text(pod_yaml("1.0"))
    podman("kube", "down", str(manifest), check=False)
    podman("volume", "rm", "-f", STORE, check=False)
    podman("volume", "create", STORE)
    mountpoint = Path(json.loads(podman("volume", "inspect", STORE).stdout)[0]["Mountpoint"])
    for archive in ("fromsoft.mar", "fromsoft-2.0.mar"):
        shutil.copy(model_store / archive, mountpoint / archive)
        (mountpoint / archive).chmod(0o644)
    try:
        yield manifest
    finally:
        for pod in (0, 1):
            for container in ("torchserve", "reconciler", "gateway"):
                name = f"{NAME}-pod-{pod}-{container}"
                (ARTIFACTS / f"kube-{name}.log").write_text(podman("logs", name, check=False).stdout[-20000:])
        podman("kube", "down", str(manifest), check=False, timeout=300)
        podman("volume", "rm", "-f", STORE, check=False)


def ready_versions() -> list[str | None]:
    """What each pod's gateway says it serves by default, once its replica has converged."""
    script = (
        "import json, urllib.request\n"
        "try: ready = json.load(urllib.request.urlopen('http://127.0.0.1:8001/readyz', timeout=5))\n"
        "except Exception: ready = {}\n"
        "print(ready.get('version', ''))"
    )
    found = []
    for pod in (0, 1):
        answer = podman("exec", f"{NAME}-pod-{pod}-gateway", "python", "-c", script, check=False)
        found.append(answer.stdout.strip() or None)
    return found


def test_both_pods_come_up_at_the_declared_default_and_follow_a_new_declaration(kube: Path):
    podman("kube", "play", "--replace", str(kube), timeout=300)
    wait_until(lambda: ready_versions() == ["1.0", "1.0"], 300, "both pods ready at 1.0")

    kube.write_text(pod_yaml("2.0"))  # the ConfigMap edited: the pods are replaced, as a rollout does
    podman("kube", "play", "--replace", str(kube), timeout=300)
    wait_until(lambda: ready_versions() == ["2.0", "2.0"], 300, "both pods ready at 2.0")
