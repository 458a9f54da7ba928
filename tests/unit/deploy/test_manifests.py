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


def test_compose_publishes_only_the_web_port_and_management_on_loopback():
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    published = {name: s.get("ports", []) for name, s in services.items() if s.get("ports")}
    assert published.pop("web") == ["${WEB_PORT:-8000}:8080"]
    assert published.pop("torchserve") == ["127.0.0.1:${TS_MANAGEMENT_PORT:-8081}:8081"]
    assert all(port.startswith("127.0.0.1:") for ports in published.values() for port in ports), published
    assert (
        yaml.safe_load((REPO / "docker-compose.yml").read_text())["networks"]["backend"]["internal"] is True
    )


def test_compose_services_wait_for_healthy_dependencies():
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    for name in ("redis", "torchserve", "gateway", "web"):
        assert "healthcheck" in services[name], name
    for name, deps in (("gateway", ("redis", "torchserve")), ("web", ("gateway",))):
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
        assert re.fullmatch(r"[a-z0-9.-]+:[\w.-]+", args[base[2:-1]]), "an official image with its tag"


def test_kubernetes_runs_the_images_compose_builds():
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    built = {s["image"] for s in services.values() if "build" in s}
    ours = {
        container["image"]
        for name in ("serving.yaml", "web.yaml")
        for doc in _documents(name)
        if doc["kind"] == "Deployment"
        for container in doc["spec"]["template"]["spec"]["containers"]
    }
    assert ours == built == {f"fromsoft-lens/{n}:0.1.0" for n in ("torchserve", "gateway", "web")}


def test_every_kustomization_resource_exists_and_validates_against_kubernetes_schemas():
    resources = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(resources) == sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    result = run(BIN / "kubernetes-validate", *(K8S / r for r in resources))
    assert result.returncode == 0, result.stdout + result.stderr


def _documents(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


def test_torchserve_listens_on_the_pod_loopback_with_tokens_and_scales_with_its_gateway():
    deployment, service, hpa = _documents("serving.yaml")
    containers = {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}
    assert {"name": "TS_BIND", "value": "127.0.0.1"} in containers["torchserve"]["env"]
    assert "ports" not in containers["torchserve"]  # nothing outside the pod reaches it
    env = {e["name"]: e["value"] for e in containers["gateway"]["env"]}
    assert env["TORCHSERVE_KEY_FILE"] == "/keys/key_file.json"
    assert service["spec"]["ports"][0]["port"] == 8001
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]


def test_network_policies_admit_only_the_gateway_to_redis_and_only_web_to_the_gateway():
    policies = {p["metadata"]["name"]: p for p in _documents("network-policies.yaml")}
    assert policies["default-deny-ingress"]["spec"]["podSelector"] == {}
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
