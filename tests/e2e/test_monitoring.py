"""The native stack (scripts/stack.sh) as an operator watches it: `ops.models promote` run with no setting
typed; one upload's ID found in the answer
and in the logs of nginx, the gateway and TorchServe; no TorchServe key in any log; and Debian's
Prometheus, with the project's scrape configuration and rules, scraping the gateway and TorchServe:
every target up, every series the alerts and the dashboard use present, every rule and panel query
evaluated without error."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from launchers import REPO
from launchers.gateway import WRITE_BEHIND_WAIT
from launchers.procs import wait_until
from launchers.prometheus import Prometheus, start_prometheus
from launchers.stack import NativeStack
from tests.support.feedback import post_feedback

MONITORING = REPO / "monitoring"
# Series the alerts and the dashboard rely on, each with labels it must carry after the traffic below.
EXPECTED = [
    'gateway_requests_total{route="/api/v1/classify", status="200"}',
    'gateway_requests_total{route="/api/v1/classify", status="429"}',
    'gateway_requests_total{route="/api/v1/explain", status="200"}',
    'gateway_request_duration_seconds_bucket{route="/api/v1/classify"}',
    'gateway_upstream_request_duration_seconds_bucket{endpoint="predictions"}',
    'gateway_cache_lookups_total{result="hit"}',
    'gateway_cache_lookups_total{result="miss"}',
    "gateway_rate_limited_total",
    "gateway_requests_in_flight",
    "gateway_redis_breaker_open",
    'gateway_served_model_info{model="fromsoft", version="1.0"}',
    'gateway_model_workers{model="fromsoft", version="1.0", status="READY"}',
    'gateway_model_ready_workers{model="fromsoft"}',
    'gateway_torchserve_key_expiry_timestamp_seconds{kind="inference"}',
    'gateway_answers_total{model="fromsoft", version="1.0"}',
    'gateway_reference_label_share{model="fromsoft", version="1.0"}',
    'gateway_canary_comparisons_total{model="fromsoft", candidate="2.0", outcome="agree"}',
    'gateway_declared_model_info{model="fromsoft", version="1.0"}',
    "gateway_declared_state_valid",
    "gateway_replica_converged",
    "gateway_reconciler_report_timestamp_seconds",
    'ts_inference_requests_total{model_name="fromsoft"}',
    'ts_queue_latency_microseconds{model_name="fromsoft"}',
    "CPUUtilization",
]
METRIC_NAME = re.compile(r"\b(?:gateway|ts)_\w+|\bCPUUtilization\b")


@pytest.fixture(scope="module")
def native(model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NativeStack]:
    """The stack with a canary (2.0, every image) beside its default, as when an operator tries a version."""
    root = tmp_path_factory.mktemp("monitored")
    store = root / "model_store"
    store.mkdir()
    for archive in ("fromsoft.mar", "fromsoft-2.0.mar"):
        shutil.copy(model_store / archive, store / archive)
    stack = NativeStack(root / "var", store, RATE_LIMIT="12/minute")
    stack.up()
    stack.models("add", "fromsoft-2.0.mar")
    stack.models("canary", "fromsoft", "2.0", "--share", "1.0")
    yield stack
    stack.down()


@pytest.fixture(scope="module")
def traffic(native: NativeStack, synthetic_data: Path) -> dict[str, httpx.Response]:
    """What an operator's first minutes bring: new uploads, a repeat, a visitor's feedback, an
    explanation, a bad upload, and one client over its rate limit."""
    frames = sorted((synthetic_data / "FromSoftwareImages").rglob("*.jpg"))[::53]

    def post(kind: str, image: bytes) -> httpx.Response:
        files = {"file": ("shot.jpg", image, "image/jpeg")}
        return httpx.post(f"{native.web}/api/v1/{kind}", files=files, timeout=60)

    answers = {"first": post("classify", frames[0].read_bytes())}
    time.sleep(WRITE_BEHIND_WAIT)
    answers["repeat"] = post("classify", frames[0].read_bytes())
    first = frames[0].read_bytes()
    answers["feedback"] = post_feedback(native.web, hashlib.sha256(first).hexdigest(), "right", file=first)
    answers["explain"] = post("explain", frames[1].read_bytes())
    answers["bad"] = post("classify", b"not an image")
    for frame in frames[2:14]:  # 12/minute: these run into the limit
        answers["last"] = post("classify", frame.read_bytes())
        if answers["last"].status_code == 429:
            break
    return answers


@pytest.fixture(scope="module")
def prometheus(native: NativeStack, traffic, tmp_path_factory) -> Iterator[Prometheus]:
    targets = {
        "gateway": [f"127.0.0.1:{native.env['GATEWAY_PORT']}"],
        "torchserve": [f"127.0.0.1:{native.env['TS_METRICS_PORT']}"],
    }
    server = start_prometheus(tmp_path_factory.mktemp("prometheus"), targets)
    yield server
    server.stop()


def logs(native: NativeStack) -> dict[str, Path]:
    var = native.var_dir
    found = {
        "nginx access": var / "nginx" / "access.log",
        "nginx error": var / "nginx" / "error.log",
        "TorchServe model": var / "replicas" / "1" / "torchserve" / "logs" / "model_log.log",
        "TorchServe": var / "replicas" / "1" / "torchserve" / "logs" / "ts_log.log",
    }
    found.update({f"{p.stem} (stack)": p for p in (var / "log").glob("*.log")})
    return found


def test_the_traffic_got_its_answers(traffic):
    statuses = {name: answer.status_code for name, answer in traffic.items()}
    expected = {"first": 200, "repeat": 200, "feedback": 201, "explain": 200, "bad": 415, "last": 429}
    assert statuses == expected, statuses
    assert traffic["repeat"].json()["cached"] is True


def test_promote_reads_the_canary_from_the_stacks_redis_with_no_setting_typed(native, traffic):
    """`python -m ops.models promote` where `make up` ran, with no setting in its environment: the stack's
    var/stack.env names the store, the reports, Redis and Redis's password. The canary compared fewer
    images than promote asks for, so the answer is the guarded refusal, with the figures read from Redis."""
    done = subprocess.run(
        [sys.executable, "-m", "ops.models", "promote", "fromsoft"],
        cwd=native.var_dir.parent,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO)},  # the checkout's code, and nothing else
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("models: not promoted: "), done.stderr
    compared = re.match(r"models: fromsoft 2\.0 against 1\.0: (\d+) comparisons", done.stdout)
    assert compared is not None, done.stdout
    assert int(compared[1]) > 0  # counted by the gateway in Redis, read with the stack's password


def test_one_upload_is_found_by_its_id_in_the_answer_and_every_log(native, traffic):
    request_id = traffic["first"].headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    found = logs(native)

    def lines_with_id(name: str) -> list[str]:
        return [line for line in found[name].read_text().splitlines() if request_id in line]

    # Twice: the default's answer, and the canary's comparison, asked in the background under the same ID.
    wait_until(lambda: len(lines_with_id("TorchServe model")) == 2, 15, "the ID in TorchServe's model log")
    [nginx] = [json.loads(line) for line in lines_with_id("nginx access")]
    assert (nginx["uri"], nginx["status"]) == ("/api/v1/classify", 200)
    [gateway] = [json.loads(line) for line in lines_with_id("gateway-1 (stack)")]
    assert (gateway["route"], gateway["status"], gateway["cached"]) == ("/api/v1/classify", 200, False)
    handlers = [json.loads(line.split("MODEL_LOG - ", 1)[1]) for line in lines_with_id("TorchServe model")]
    assert [handler["kind"] for handler in handlers] == ["classify", "classify"]
    bad = traffic["bad"]
    assert bad.json()["error"]["request_id"] == bad.headers["X-Request-ID"]


def test_no_torchserve_key_is_in_any_log(native, traffic):
    keys = [entry["key"] for entry in json.loads(native.key_file().read_text()).values()]
    assert len(keys) == 3  # inference, management, API
    for name, path in logs(native).items():
        text = path.read_text(errors="replace")
        for key in keys:
            assert key not in text, f"a TorchServe key in the {name} log ({path})"


def test_prometheus_scrapes_every_target_and_finds_every_series(prometheus: Prometheus):
    def all_up() -> bool:
        active = prometheus.api("targets")["activeTargets"]
        return sorted(t["labels"]["job"] for t in active) == ["gateway", "torchserve"] and all(
            t["health"] == "up" for t in active
        )

    wait_until(all_up, 30, "both targets up")
    missing: list[str] = []

    def present() -> bool:
        missing[:] = [series for series in EXPECTED if not prometheus.api("query", query=series)["result"]]
        return not missing

    try:
        wait_until(present, 30, "the expected series")
    except TimeoutError:
        pytest.fail(f"not scraped: {missing}")
    classified = prometheus.api("query", query=EXPECTED[0])["result"]
    assert float(classified[0]["value"][1]) >= 2  # the new upload and its repeat


def test_prometheus_loads_the_shipped_rules_and_evaluates_each_without_error(prometheus: Prometheus):
    def evaluated() -> bool:
        rules = [r for g in prometheus.api("rules")["groups"] for r in g["rules"]]
        return bool(rules) and all(r.get("lastEvaluation", "").startswith("20") for r in rules)

    wait_until(evaluated, 30, "every rule evaluated")
    groups = prometheus.api("rules")["groups"]
    assert {g["name"] for g in groups} == {
        "fromsoft-lens",
        "fromsoft-lens-signals",
        "fromsoft-lens-drift",
        "fromsoft-lens-feedback",
    }
    broken = {r["name"]: r.get("lastError") for g in groups for r in g["rules"] if r["health"] != "ok"}
    assert broken == {}
    alerts = {a["labels"]["alertname"]: a["state"] for a in prometheus.api("alerts")["alerts"]}
    assert alerts == {}  # a healthy stack: no alert even pending


def test_every_dashboard_and_alert_query_evaluates_on_series_that_exist(prometheus: Prometheus):
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(queries) >= 12
    alerts = (MONITORING / "alerts.yml").read_text()
    names = set(METRIC_NAME.findall(alerts)) | {n for q in queries for n in METRIC_NAME.findall(q)}
    scraped = set(prometheus.api("label/__name__/values"))
    assert names - scraped == set(), "queried but never scraped"
    for query in queries:
        prometheus.api("query", query=query.replace("$__rate_interval", "1m"))  # fails on an error
