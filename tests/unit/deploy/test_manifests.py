"""Deployment files validated offline: the compose file against the Compose specification, Dockerfiles
with hadolint, manifests against Kubernetes' schemas (kubernetes-validate, no cluster runs here), and
what each publishes is pinned. tests/containers builds the images and runs the compose stack."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
K8S = REPO / "deploy" / "k8s" / "base"


def run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=120)


def test_compose_file_follows_the_compose_specification():
    result = run(
        BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", REPO / "docker-compose.yml"
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_publishes_only_the_web_port_and_the_serving_unit_scales_without_fixed_ports():
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    published = {name: s.get("ports", []) for name, s in services.items() if s.get("ports")}
    assert published.pop("web") == ["${WEB_PORT:-8000}:8080"]
    # the monitoring profile's, on loopback
    assert published.pop("prometheus") == ["127.0.0.1:${PROMETHEUS_PORT:-9090}:9090"]
    assert published == {}
    serving = services["serving"]
    assert serving["deploy"]["replicas"] == "${SERVING_REPLICAS:-1}"
    assert not any("keys" in volume for volume in serving["volumes"])  # each replica keeps its own
    assert serving["volumes"][0].endswith(":/home/model-server/model-store:ro")
    assert (
        yaml.safe_load((REPO / "docker-compose.yml").read_text())["networks"]["backend"]["internal"] is True
    )


def test_compose_services_wait_for_healthy_dependencies():
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    for name in ("redis", "serving", "web"):
        assert "healthcheck" in services[name], name
    assert "ops.reconciler --check" in services["serving"]["healthcheck"]["test"][1]
    assert "/readyz" in services["serving"]["healthcheck"]["test"][1]  # ready: converged to the declaration
    for name, deps in (("serving", ("redis",)), ("web", ("serving",))):
        for dep in deps:
            assert services[name]["depends_on"][dep]["condition"] == "service_healthy"


@pytest.mark.parametrize("dockerfile", sorted((REPO / "docker").glob("*.Dockerfile")), ids=lambda p: p.name)
def test_dockerfiles_pass_hadolint(dockerfile):
    result = run(BIN / "hadolint", dockerfile)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", sorted((REPO / "docker").glob("*.Dockerfile")), ids=lambda p: p.name)
def test_every_base_image_is_a_build_arg_defaulting_to_a_public_image(dockerfile):
    """So that a machine without Docker Hub can build from local bases (scripts/container_images.sh)."""
    lines = dockerfile.read_text().splitlines()
    args = dict(line[4:].split("=", 1) for line in lines if line.startswith("ARG ") and "=" in line)
    stages = [line.split()[3] for line in lines if line.startswith("FROM ") and " AS " in line]
    for base in (line.split()[1] for line in lines if line.startswith("FROM ")):
        if base == "scratch" or base in stages:
            continue
        assert re.fullmatch(r"\$\{\w+\}", base), base
        official = r"docker\.io/library/[a-z0-9.-]+:[\w.-]+(@sha256:[0-9a-f]{64})?"
        assert re.fullmatch(official, args[base[2:-1]]), "an official image, its registry, its tag"


def test_kubernetes_runs_the_images_the_build_script_makes():
    """Compose runs the TorchServe image as its whole serving unit; Kubernetes splits the unit into
    containers, the gateway in its own image; both run the PostgreSQL image of the feedback store (all
    four built by scripts/container_images.sh)."""
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    built = {s["image"] for s in services.values() if "build" in s}
    ours = {
        container["image"]
        for name in ("serving.yaml", "web.yaml")
        for doc in _documents(name)
        if doc["kind"] == "Deployment"
        for container in doc["spec"]["template"]["spec"]["containers"]
    }
    assert built == {f"ghcr.io/fromsoft-lens/{n}:0.1.0" for n in ("torchserve", "web", "postgres")}
    ours |= {
        c["image"]
        for d in _documents("postgres.yaml")
        if d["kind"] == "StatefulSet"
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert ours == {f"ghcr.io/fromsoft-lens/{n}:0.1.0" for n in ("torchserve", "gateway", "web", "postgres")}
    script = (REPO / "scripts" / "container_images.sh").read_text()
    assert {line.split()[1] for line in script.splitlines() if line.startswith("  build ")} == {
        "torchserve",
        "gateway",
        "web",
        "postgres",
    }


def test_every_kustomization_resource_exists_and_validates_against_kubernetes_schemas():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    resources = kustomization["resources"]
    generated = {f for generator in kustomization["configMapGenerator"] for f in generator["files"]}
    assert generated == {"models.yaml"}
    others = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"} - generated
    assert sorted(resources) == sorted(others)
    result = run(BIN / "kubernetes-validate", *(K8S / r for r in resources))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_operators_manifests_validate_against_kubernetes_schemas():
    """deploy/k8s/ops: the review pod and the prune CronJob, applied by hand (outside the base)."""
    manifests = sorted((K8S.parent / "ops").glob("*.yaml"))
    assert [p.name for p in manifests] == ["feedback-prune.yaml", "feedback-review.yaml"]
    result = run(BIN / "kubernetes-validate", *manifests)
    assert result.returncode == 0, result.stdout + result.stderr


def _documents(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


def test_torchserve_listens_on_the_pod_loopback_and_the_gateway_holds_the_inference_key_alone():
    deployment, service, hpa = _documents("serving.yaml")
    pod = deployment["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod["containers"]}
    assert list(containers) == ["torchserve", "reconciler", "gateway"]
    assert {"name": "TS_BIND", "value": "127.0.0.1"} in containers["torchserve"]["env"]
    assert "ports" not in containers["torchserve"]  # nothing outside the pod reaches it
    env = {e["name"]: e.get("value") for e in containers["gateway"]["env"]}
    assert env["TORCHSERVE_KEY_FILE"] == "/unit/gateway-keys.json"  # the reconciler's copy
    mounts = {m["name"] for m in containers["gateway"]["volumeMounts"]}
    # not TorchServe's key file (management, API keys)
    assert mounts == {"unit", "redis-auth", "edge-key", "gateway-tmp", "feedback-store"}
    reconciler = {e["name"]: e.get("value") for e in containers["reconciler"]["env"]}
    assert reconciler["MODELS_FILE"] == "/home/model-server/declared/models.yaml"
    declared = next(v for v in pod["volumes"] if v["name"] == "declared")
    assert declared["configMap"]["name"] == "models"  # kustomization.yaml's generator, hashed
    assert service["spec"]["ports"][0]["port"] == 8001
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]


def test_the_shipped_declaration_is_a_valid_declared_state():
    from ops.declared import parse

    state = parse((K8S / "models.yaml").read_text())
    assert state.models["fromsoft"].default == "1.0"


def test_network_policies_admit_only_the_gateway_to_redis_and_only_web_to_the_gateway():
    policies = {p["metadata"]["name"]: p for p in _documents("network-policies.yaml")}
    assert policies["default-deny"]["spec"]["podSelector"] == {}
    redis = policies["redis-from-gateway"]["spec"]
    assert redis["podSelector"]["matchLabels"] == {"app": "redis"}
    assert redis["ingress"][0]["from"] == [{"podSelector": {"matchLabels": {"app": "serving"}}}]
    gateway = policies["gateway-from-web"]["spec"]
    assert gateway["ingress"][0]["from"] == [{"podSelector": {"matchLabels": {"app": "web"}}}]


def test_kserve_example_uses_the_torchserve_runtime_format():
    service = yaml.safe_load((REPO / "deploy" / "kserve" / "inferenceservice.yaml").read_text())
    assert service["apiVersion"] == "serving.kserve.io/v1beta1"
    assert service["kind"] == "InferenceService"
    model = service["spec"]["predictor"]["model"]
    assert model["modelFormat"]["name"] == "pytorch"
    assert model["storageUri"].startswith("pvc://")


def test_the_kserve_example_says_its_runtime_is_going_and_how_its_configuration_is_made():
    text = (REPO / "deploy" / "kserve" / "inferenceservice.yaml").read_text()
    assert "kserve/kserve#5638" in text
    assert "python -m ops.kserve_config" in text
