"""The security posture of what ships, checked over the manifests themselves (no cluster, no engine):
Kubernetes' "restricted" Pod Security Standard for every container, storage and egress bounded, images
qualified; compose's containers without capabilities, read-only, limited; base images pinnable by the
refresh script. A manifest that drops one of these fails here."""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
K8S = REPO / "deploy" / "k8s"


def deployments() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted((K8S / "base").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc.get("kind") in ("Deployment", "StatefulSet")
    ]


def operator_pods() -> dict[str, dict[str, Any]]:
    """The operator's pods outside the base (deploy/k8s/ops: the review pod, the prune CronJob's pod),
    by name: their pod's whole manifest (metadata and spec)."""
    found = {}
    for path in sorted((K8S / "ops").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == "CronJob":
                found[doc["metadata"]["name"]] = doc["spec"]["jobTemplate"]["spec"]["template"]
            elif doc:
                found[doc["metadata"]["name"]] = doc
    return found


@pytest.mark.parametrize("deployment", deployments(), ids=lambda d: d["metadata"]["name"])
def test_every_pod_meets_the_restricted_pod_security_standard(deployment):
    assert_restricted(deployment["spec"]["template"]["spec"])


@pytest.mark.parametrize("name", sorted(operator_pods()))
def test_every_operator_pod_meets_the_restricted_pod_security_standard_too(name):
    assert_restricted(operator_pods()[name]["spec"])


def assert_restricted(pod: dict[str, Any]) -> None:
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"] + pod.get("initContainers", []):
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["capabilities"]["drop"] == ["ALL"], container["name"]
        assert "add" not in context["capabilities"], container["name"]
        limits = container["resources"]["limits"]
        assert {"memory", "ephemeral-storage"} <= set(limits), container["name"]
        assert container["image"].split("/")[0] in ("ghcr.io", "docker.io"), container["image"]
    for volume in pod.get("volumes", []):
        if "emptyDir" in volume:
            assert "sizeLimit" in volume["emptyDir"], volume["name"]


def test_no_secret_is_in_a_manifest_and_redis_requires_one():
    redis = next(d for d in deployments() if d["metadata"]["name"] == "redis")
    [container] = redis["spec"]["template"]["spec"]["containers"]
    assert "requirepass" in container["args"][0]
    assert "/secrets/redis-password" in container["args"][0]
    secrets = [
        doc
        for path in (K8S / "base").glob("*.yaml")
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc.get("kind") == "Secret"
    ]
    assert secrets == []  # created by the operator (redis.yaml says how), never shipped
    serving = next(d for d in deployments() if d["metadata"]["name"] == "serving")
    gateway = next(c for c in serving["spec"]["template"]["spec"]["containers"] if c["name"] == "gateway")
    assert {"name": "REDIS_PASSWORD_FILE", "value": "/secrets/redis-password"} in gateway["env"]


def test_network_policies_deny_egress_by_default_and_allow_dns_redis_and_the_gateway():
    policies = {
        p["metadata"]["name"]: p["spec"]
        for p in yaml.safe_load_all((K8S / "base" / "network-policies.yaml").read_text())
    }
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    [dns] = policies["dns-egress"]["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    web_out = policies["web-from-the-ingress-controller"]["egress"]
    assert web_out == [
        {
            "to": [{"podSelector": {"matchLabels": {"app": "serving"}}}],
            "ports": [{"port": 8001, "protocol": "TCP"}],
        }
    ]
    # The serving pod, TorchServe's worker included (it shares the pod's network), reaches Redis's port
    # and DNS, nothing else.
    serving_out = policies["gateway-from-web"]["egress"]
    assert serving_out == [
        {
            "to": [{"podSelector": {"matchLabels": {"app": "redis"}}}],
            "ports": [{"port": 6379, "protocol": "TCP"}],
        }
    ]
    metrics = next(
        d
        for d in yaml.safe_load_all((K8S / "monitoring" / "metrics.yaml").read_text())
        if d["kind"] == "NetworkPolicy"
    )
    [source] = metrics["spec"]["ingress"][0]["from"]
    assert source["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}


def containers_of(name: str) -> dict[str, dict[str, Any]]:
    deployment = next(d for d in deployments() if d["metadata"]["name"] == name)
    return {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}


def test_only_the_ingress_controllers_pods_reach_web_whose_x_forwarded_for_the_pod_range_trusts():
    """EDGE_TRUSTED_PROXIES is the pod range (the controller's addresses come and go): what narrows it to
    the controller is that no other pod may send to web."""
    policies = {
        p["metadata"]["name"]: p["spec"]
        for p in yaml.safe_load_all((K8S / "base" / "network-policies.yaml").read_text())
    }
    web = policies["web-from-the-ingress-controller"]
    assert web["podSelector"] == {"matchLabels": {"app": "web"}}
    [admitted] = web["ingress"]
    assert admitted["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
        }
    ]
    env = {e["name"]: e.get("value") for e in containers_of("web")["nginx"]["env"]}
    assert env["EDGE_TRUSTED_PROXIES"] == "10.244.0.0/16"


def test_the_gateway_believes_x_forwarded_for_only_with_the_edge_key_that_web_and_it_alone_mount():
    """Any pod of the range reaches the gateway's address space (Prometheus's, the serving pod's own
    TorchServe): the key, not the address, names the web pods. TorchServe's and the reconciler's
    containers mount none of the key, Redis's password and the store's secret, and see no other container's
    processes."""
    serving = next(d for d in deployments() if d["metadata"]["name"] == "serving")
    pod = serving["spec"]["template"]["spec"]
    assert not pod.get("shareProcessNamespace", False)
    secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert secrets == {"redis-auth": "redis-auth", "edge-key": "edge-key", "feedback-store": "feedback-store"}
    containers = containers_of("serving")
    gateway_env = {e["name"]: e.get("value") for e in containers["gateway"]["env"]}
    assert gateway_env["TRUSTED_PROXIES"] == "10.244.0.0/16"
    assert gateway_env["EDGE_KEY_FILE"] == "/edge-key/key"
    assert {"name": "edge-key", "mountPath": "/edge-key", "readOnly": True} in containers["gateway"][
        "volumeMounts"
    ]
    for name in ("torchserve", "reconciler"):
        mounted = {m["name"] for m in containers[name]["volumeMounts"]}
        assert not mounted & set(secrets), name
    nginx = containers_of("web")["nginx"]
    assert {"name": "EDGE_KEY_FILE", "value": "/edge-key/key"} in nginx["env"]
    assert {"name": "edge-key", "mountPath": "/edge-key", "readOnly": True} in nginx["volumeMounts"]
    web_pod = next(d for d in deployments() if d["metadata"]["name"] == "web")["spec"]["template"]["spec"]
    assert {
        "name": "edge-key",
        "secret": {"secretName": "edge-key", "items": [{"key": "key", "path": "key"}]},
    } in (web_pod["volumes"])


def compose_services() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]


LONG_RUNNING = ("redis", "postgres", "serving", "web", "prometheus")
ONE_OFF = ("redis-secret", "store-secret", "migrate", "training", "ops", "keys")


def test_every_compose_service_is_either_long_running_or_one_off():
    """A new service must be placed in one of the two, and so meet the checks below."""
    assert sorted(compose_services()) == sorted(LONG_RUNNING + ONE_OFF)


@pytest.mark.parametrize("name", LONG_RUNNING + ONE_OFF)
def test_every_compose_container_drops_every_capability_and_gains_no_privilege(name):
    service = compose_services()[name]
    assert service["cap_drop"] == ["ALL"]
    assert "cap_add" not in service
    assert service["security_opt"] == ["no-new-privileges:true"]
    assert "privileged" not in service


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_every_long_running_compose_container_is_hardened(name):
    service = compose_services()[name]
    assert service["read_only"] is True
    assert service["mem_limit"]
    assert service["pids_limit"]
    assert service["logging"]["options"]["max-size"] == "10m"
    assert all(t.split(":")[0].startswith("/") for t in service.get("tmpfs", []))


def at_default(value: str) -> str:
    """A compose value with every ``${NAME:-default}`` at its default."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def test_compose_gateways_believe_only_the_web_containers_fixed_address_and_listen_on_its_network_alone():
    """The host and every other container reach the gateway with addresses of their own, so none picks
    a rate-limit bucket with X-Forwarded-For; web's address is outside the range the engine hands out."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services, networks = compose["services"], compose["networks"]
    web = at_default(services["web"]["networks"]["edge"]["ipv4_address"])
    serving = services["serving"]
    assert at_default(serving["environment"]["TRUSTED_PROXIES"]) == f"{web}/32"
    assert at_default(serving["environment"]["EDGE_ADDRESS"]) == web  # the gateway binds where it meets web
    [pool] = networks["edge"]["ipam"]["config"]
    assert ipaddress.ip_address(web) in ipaddress.ip_network(at_default(pool["subnet"]))
    assert ipaddress.ip_address(web) not in ipaddress.ip_network(at_default(pool["ip_range"]))
    unit = (REPO / "docker" / "serving-unit.sh").read_text()
    assert '--host "$gateway_host"' in unit
    assert "--host 0.0.0.0" not in unit
    assert "TS_METRICS_BIND" not in serving["environment"]  # the unit sets it: the backend network's address
    assert set(serving["networks"]) == {"backend", "edge"}
    assert set(services["web"]["networks"]) == {"public", "edge"}


def test_compose_leaves_one_network_with_a_route_out_and_no_serving_unit_on_it():
    networks = yaml.safe_load((REPO / "docker-compose.yml").read_text())["networks"]
    assert {name for name, spec in networks.items() if not spec.get("internal")} == {"public"}
    on_public = {n for n, s in compose_services().items() if "public" in s.get("networks", [])}
    assert on_public == {"web", "prometheus"}


def test_compose_spills_uploads_to_a_capped_tmpfs_and_keeps_the_redis_password_off_command_lines():
    services = compose_services()
    assert "/tmp:size=256m,mode=1777" in services["web"]["tmpfs"]
    assert "requirepass" in services["redis"]["command"][0]
    assert "REDISCLI_AUTH" in services["redis"]["healthcheck"]["test"][1]
    assert services["serving"]["environment"]["REDIS_PASSWORD_FILE"] == "/secrets/redis-password"
    for service in services.values():  # no key or password in any healthcheck's arguments
        test = " ".join(service.get("healthcheck", {}).get("test", []))
        assert "Bearer" not in test
        assert "key_file" not in test


def test_the_pin_script_pins_every_public_base_by_digest(tmp_path):
    """Against a stand-in for the registry (this machine reaches none): every base gets the digest of
    the manifest skopeo returns, and a second run changes nothing."""
    repo = tmp_path / "repo"
    for part in ("docker", "scripts", "deploy/k8s/base"):
        (repo / part).mkdir(parents=True)
    shutil.copytree(REPO / "docker", repo / "docker", dirs_exist_ok=True)
    shutil.copy(REPO / "docker-compose.yml", repo)
    shutil.copy(REPO / "deploy/k8s/base/redis.yaml", repo / "deploy/k8s/base")
    shutil.copy(REPO / "scripts/pin_base_images.sh", repo / "scripts")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "skopeo").write_text('#!/bin/sh\necho "{\\"manifest of\\": \\"$3\\"}"\n')
    (bin_dir / "skopeo").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    first = subprocess.run(
        ["bash", "scripts/pin_base_images.sh"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr
    pinned = [
        *(
            line
            for p in (repo / "docker").glob("*.Dockerfile")
            for line in p.read_text().splitlines()
            if line.startswith("ARG ") and "_IMAGE=" in line
        ),
        *(line for line in (repo / "docker-compose.yml").read_text().splitlines() if "_IMAGE:-" in line),
        *(
            line
            for line in (repo / "deploy/k8s/base/redis.yaml").read_text().splitlines()
            if "image:" in line
        ),
    ]
    assert len(pinned) >= 8
    assert all("@sha256:" in line for line in pinned), pinned
    again = subprocess.run(
        ["bash", "scripts/pin_base_images.sh"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert again.stdout == ""


def test_the_feedback_store_is_reached_only_by_the_gateways_and_the_operator_tools_with_a_secret_password():
    """postgres.yaml's StatefulSet takes its password from the operator's Secret, as the gateways and
    their migrating init container do; only serving and ops pods may reach it, and only they may leave
    for it."""
    postgres = next(d for d in deployments() if d["metadata"]["name"] == "postgres")
    [container] = postgres["spec"]["template"]["spec"]["containers"]
    assert {"name": "POSTGRES_PASSWORD_FILE", "value": "/secrets/postgres-password"} in container["env"]
    assert postgres["spec"]["volumeClaimTemplates"][0]["spec"]["accessModes"] == ["ReadWriteOnce"]
    serving = next(d for d in deployments() if d["metadata"]["name"] == "serving")
    pod = serving["spec"]["template"]["spec"]
    gateway = next(c for c in pod["containers"] if c["name"] == "gateway")
    [migrate] = pod["initContainers"]
    for needs_it in (gateway, migrate):
        env = {e["name"]: e for e in needs_it["env"]}
        assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "feedback-store"
        assert env["DATABASE_PASSWORD_FILE"]["value"].startswith("/store/")
    assert "python -m store upgrade --wait" in migrate["command"][-1]
    policies = {
        p["metadata"]["name"]: p["spec"]
        for p in yaml.safe_load_all((K8S / "base" / "network-policies.yaml").read_text())
    }
    allowed = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["serving", "ops"]}]}
    inbound = policies["postgres-from-gateway-and-ops"]
    assert inbound["podSelector"] == {"matchLabels": {"app": "postgres"}}
    assert inbound["ingress"] == [
        {"from": [{"podSelector": allowed}], "ports": [{"port": 5432, "protocol": "TCP"}]}
    ]
    outbound = policies["feedback-store-egress"]
    assert outbound["podSelector"] == allowed
    assert outbound["egress"][0]["to"] == [{"podSelector": {"matchLabels": {"app": "postgres"}}}]


def test_the_review_tool_reaches_the_store_as_the_gateways_do_with_the_password_from_the_secret():
    """compose's ops service, and the Kubernetes pods labelled app: ops (which the NetworkPolicies admit
    to PostgreSQL), take DATABASE_URL without a password and the password from the store's secret,
    mounted read-only; the pods mount the password alone, not the key of the visitors' hashes."""
    ops = compose_services()["ops"]
    assert ops["environment"]["DATABASE_URL"] == compose_services()["serving"]["environment"]["DATABASE_URL"]
    password = Path(ops["environment"]["DATABASE_PASSWORD_FILE"])
    assert f"store-secret:{password.parent}:ro" in ops["volumes"]
    assert set(compose_services()["postgres"]["networks"]) <= set(ops["networks"])
    pods = operator_pods()
    assert sorted(pods) == ["feedback-prune", "feedback-review"]
    for pod in pods.values():
        assert pod["metadata"]["labels"] == {"app": "ops"}
        spec = pod["spec"]
        [container] = spec["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": "feedback-store",
            "key": "database-url",
        }
        password = Path(env["DATABASE_PASSWORD_FILE"]["value"])
        [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == str(password.parent)]
        assert mount["readOnly"] is True
        [volume] = [v for v in spec["volumes"] if v["name"] == mount["name"]]
        assert volume["secret"] == {
            "secretName": "feedback-store",
            "items": [{"key": "database-password", "path": password.name}],
        }


def test_compose_runs_postgres_hardened_with_its_password_from_a_secret_volume():
    services = compose_services()
    postgres = services["postgres"]
    assert postgres["cap_drop"] == ["ALL"]
    assert "cap_add" not in postgres  # Debian's server as its own user: no capability needed
    assert postgres["read_only"] is True
    assert postgres["networks"] == ["backend"]
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/secrets/postgres-password"
    assert "postgres-data:/var/lib/postgresql/data" in postgres["volumes"]
    serving = services["serving"]
    assert serving["environment"]["DATABASE_PASSWORD_FILE"] == "/store-secrets/postgres-password"
    user = serving["environment"]["DATABASE_URL"].split("//")[1].split("@")[0]
    assert ":" not in user  # no password in the URL
    assert "migrate" not in serving["depends_on"]  # a database away never keeps a unit from classifying
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["migrate"]["entrypoint"][:4] == ["python", "-m", "store", "upgrade"]
