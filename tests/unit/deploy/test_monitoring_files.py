"""Monitoring as shipped, checked offline: the scrape configuration and rules with Debian's promtool
(their unit tests included), the dashboard's shape, and compose and Kubernetes running the same jobs
and rules. tests/e2e/test_monitoring.py runs a real Prometheus with them against the native stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml

from launchers.procs import require_binary

REPO = Path(__file__).resolve().parents[3]
MONITORING = REPO / "monitoring"
K8S = REPO / "deploy" / "k8s"
ISSUED_ALERTS = {
    "NoModelWorkerReady",
    "ModelWorkersNotReady",
    "GatewayErrorRateHigh",
    "GatewayLatencyP99High",
    "RedisBreakerOpen",
    "TorchServeKeyNearExpiry",
    "ReportedAccuracyLow",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Debian's promtool (package prometheus, installed by make setup): missing, the test fails."""
    binary = require_binary("promtool", "apt-get install prometheus")
    return subprocess.run([binary, *args], cwd=MONITORING, capture_output=True, text=True, timeout=120)


def alerts() -> list[dict]:
    groups = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def documents(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


CHECKS = [
    ("check", "config", "prometheus.yml"),
    ("check", "rules", "alerts.yml"),
    ("test", "rules", "alerts.test.yml"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: " ".join(check[:2]))
def test_promtool_accepts_the_configuration_and_the_rules_pass_their_tests(check):
    result = promtool(*check)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_labelled_and_explained_and_the_issued_ones_exist():
    rules = alerts()
    assert {rule["alert"] for rule in rules} >= ISSUED_ALERTS
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert "for" in rule, f"{rule['alert']} would fire on one bad evaluation"


def test_the_dashboard_queries_the_prometheus_its_user_picks():
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        assert all(t["expr"] for t in panel["targets"]), panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
    text = json.dumps(dashboard)
    signals = ("gateway_requests_total", "ts_queue_latency_microseconds", "gateway_redis_breaker_open")
    for signal in (*signals, "gateway_feedback_total", "fromsoft:reported_accuracy:6h"):
        assert signal in text
    for alert in (
        "GatewayErrorRateHigh",
        "RedisBreakerOpen",
        "TorchServeKeyNearExpiry",
        "ReportedAccuracyLow",
    ):
        assert alert in text  # each panel names the alert on its signal


def test_torchserve_log_configuration_parses_and_keeps_the_handlers_request_lines():
    """A log4j2.xml that does not parse leaves TorchServe with no log at all, and says so only in its
    output. The handler's lines go to model_log.log, and to the console where the images ask for it."""
    loggers = ElementTree.parse(REPO / "log4j2.xml").getroot().find("Loggers")
    assert loggers is not None
    model_log = next(logger for logger in loggers if logger.get("name") == "MODEL_LOG")
    assert model_log.get("level") == "info"
    refs = {ref.get("ref"): ref.get("level") for ref in model_log.findall("AppenderRef")}
    assert refs == {"model_log": None, "STDOUT": "${env:MODEL_LOG_CONSOLE_LEVEL:-off}"}
    assert "MODEL_LOG_CONSOLE_LEVEL=info" in (REPO / "docker" / "torchserve.Dockerfile").read_text()


def test_compose_runs_the_same_jobs_on_its_own_hosts_each_on_the_network_it_listens_on():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    prometheus = compose["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in prometheus["volumes"]}
    assert mounts == {
        "/etc/prometheus/prometheus.yml": "./monitoring/prometheus.compose.yml",
        "/etc/prometheus/alerts.yml": "./monitoring/alerts.yml",
        "/prometheus": "prometheus-data",
    }
    native = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    config = yaml.safe_load((MONITORING / "prometheus.compose.yml").read_text())
    assert config["rule_files"] == native["rule_files"]
    assert [job["job_name"] for job in config["scrape_configs"]] == [
        j["job_name"] for j in native["scrape_configs"]
    ]
    # Every replica of the serving unit, by an alias it carries on one network alone: the gateway listens
    # on the edge network, TorchServe's metrics API on the backend network (docker/serving-unit.sh).
    listens = {"gateway": ("gateway", 8001, "edge"), "torchserve": ("torchserve-metrics", 8082, "backend")}
    serving = compose["serving"]["networks"]
    for job in config["scrape_configs"]:
        name, port, network = listens[job["job_name"]]
        assert job["dns_sd_configs"] == [{"names": [name], "type": "A", "port": port}]
        assert serving[network]["aliases"] == [name]
        assert network in prometheus["networks"]


def test_kubernetes_monitoring_runs_the_same_jobs_and_rules():
    kustomization = yaml.safe_load((K8S / "monitoring" / "kustomization.yaml").read_text())
    for resource in kustomization["resources"][1:]:
        assert (K8S / "monitoring" / resource).is_file(), resource
    [rule] = documents(K8S / "monitoring" / "prometheus-rule.yaml")
    assert rule["spec"] == yaml.safe_load((MONITORING / "alerts.yml").read_text())
    [monitor] = documents(K8S / "monitoring" / "service-monitor.yaml")
    jobs = {e["relabelings"][0]["replacement"]: e["port"] for e in monitor["spec"]["endpoints"]}
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    assert set(jobs) == {job["job_name"] for job in config["scrape_configs"]}
    selected = monitor["spec"]["selector"]["matchLabels"]
    services = [
        d
        for path in (K8S / "base" / "serving.yaml", K8S / "monitoring" / "metrics.yaml")
        for d in documents(path)
        if d["kind"] == "Service" and d["metadata"].get("labels") == selected
    ]
    service_ports = {port["name"]: port for service in services for port in service["spec"]["ports"]}
    assert set(jobs.values()) <= set(service_ports)
    [patch] = documents(K8S / "monitoring" / "serving-metrics-patch.yaml")
    [torchserve] = patch["spec"]["template"]["spec"]["containers"]
    assert torchserve["name"] == "torchserve"
    assert service_ports["ts-metrics"]["targetPort"] == torchserve["ports"][0]["name"]
    assert {"name": "TS_METRICS_BIND", "value": "0.0.0.0"} in torchserve["env"]


def test_only_prometheus_in_the_monitoring_namespace_reaches_the_metrics_ports():
    policy = next(d for d in documents(K8S / "monitoring" / "metrics.yaml") if d["kind"] == "NetworkPolicy")
    [rule] = policy["spec"]["ingress"]
    monitoring = {"kubernetes.io/metadata.name": "monitoring"}
    prometheus = {"app.kubernetes.io/name": "prometheus"}
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": monitoring}, "podSelector": {"matchLabels": prometheus}}
    ]
    assert sorted(p["port"] for p in rule["ports"]) == [8001, 8082]
    validate = Path(sys.executable).parent / "kubernetes-validate"
    result = subprocess.run(
        [str(validate), str(K8S / "monitoring" / "metrics.yaml")], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
