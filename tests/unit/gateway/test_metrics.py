"""The gauges of state an operator alerts on: the Redis breaker, the served model and its workers,
TorchServe's key expiry, and the dead workers whose last values must not linger in /metrics."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.parser import text_string_to_metric_families

from gateway.breaker import CircuitBreaker
from gateway.config import Settings
from gateway.metrics import ModelGauges, forget_dead_workers, render
from gateway.upstream import Tokens
from inference.replica_status import ModelView, ReplicaStatus


def workers(version: str, status: str, model: str = "fromsoft") -> float | None:
    labels = {"model": model, "version": version, "status": status}
    return REGISTRY.get_sample_value("gateway_model_workers", labels)


def ready(model: str) -> float | None:
    return REGISTRY.get_sample_value("gateway_model_ready_workers", {"model": model})


def served(version: str, model: str = "fromsoft") -> float | None:
    return REGISTRY.get_sample_value("gateway_served_model_info", {"model": model, "version": version})


def test_the_breaker_reports_each_opening_and_closing():
    changes: list[bool] = []
    breaker = CircuitBreaker(failures=2, cooldown_seconds=0.05, on_change=changes.append)
    breaker.failure()
    breaker.failure()
    breaker.failure()  # already open: not reported again
    assert breaker.is_open
    time.sleep(0.06)
    assert not breaker.is_open  # half-open: calls go through again
    breaker.failure()  # the probe failed
    breaker.success()
    breaker.success()
    assert changes == [False, True, False, True, False]


def declared(version: str, model: str = "fromsoft") -> float | None:
    return REGISTRY.get_sample_value("gateway_declared_model_info", {"model": model, "version": version})


def report(declared_default: str | None, valid: bool = True, converged: bool = True) -> ReplicaStatus:
    models = {"gauge-test": ModelView(declared_default=declared_default)} if declared_default else {}
    return ReplicaStatus(
        replica="1", updated_at=1234.5, declared_valid=valid, converged=converged, models=models
    )


def test_model_gauges_follow_the_snapshot_and_zero_what_it_no_longer_holds():
    gauges = ModelGauges("gauge-test")
    assert ready("gauge-test") == 0  # nothing known yet: no worker ready
    loading = [{"version": "1.0", "workers": [{"id": "9000", "status": "UNLOADING"}]}]
    gauges.show("1.0", loading, report("1.0"))
    assert workers("1.0", "UNLOADING", "gauge-test") == 1
    assert ready("gauge-test") == 0
    two = [
        {"version": "1.0", "workers": [{"status": "READY"}, {"status": "READY"}]},
        {"version": "2.0", "workers": [{"status": "READY"}]},
    ]
    gauges.show("1.0", two, report("2.0", converged=False))
    assert (declared("2.0", "gauge-test"), served("1.0", "gauge-test")) == (1, 1)  # drift, as alerted on
    assert REGISTRY.get_sample_value("gateway_replica_converged") == 0
    gauges.show("2.0", two, report("2.0"))
    assert workers("1.0", "READY", "gauge-test") == 2
    assert workers("2.0", "READY", "gauge-test") == 1
    assert workers("1.0", "UNLOADING", "gauge-test") == 0
    assert (served("2.0", "gauge-test"), served("1.0", "gauge-test")) == (1, 0)
    assert (declared("2.0", "gauge-test"), declared("1.0", "gauge-test")) == (1, 0)
    assert ready("gauge-test") == 1  # the default version's
    assert REGISTRY.get_sample_value("gateway_replica_converged") == 1
    assert REGISTRY.get_sample_value("gateway_reconciler_report_timestamp_seconds") == 1234.5
    gauges.show("2.0", two, report("2.0", valid=False))
    assert REGISTRY.get_sample_value("gateway_declared_state_valid") == 0
    gauges.show(None, [], report(None))  # TorchServe restarted: it serves nothing yet
    assert workers("2.0", "READY", "gauge-test") == 0
    assert ready("gauge-test") == 0
    assert served("2.0", "gauge-test") == 0


def test_key_expiry_comes_from_the_key_file_at_each_scrape(tmp_path: Path):
    key_file = tmp_path / "gateway-keys.json"  # the reconciler's copy: the inference key alone
    key_file.write_text(
        json.dumps({"inference": {"key": "iNfErEnC", "expiration time": "2030-01-01T01:00:00Z"}})
    )
    tokens = Tokens(Settings(torchserve_key_file=key_file))
    text = render(None, tokens.expiries)[0].decode()
    expiry = {
        sample.labels["kind"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "gateway_torchserve_key_expiry_timestamp_seconds"
        for sample in family.samples
    }
    assert expiry == {"inference": datetime(2030, 1, 1, 1, tzinfo=UTC).timestamp()}
    assert "iNfErEnC" not in text
    assert "gateway_torchserve_key_expiry" in render(None, Tokens(Settings()).expiries)[0].decode()


def test_a_dead_workers_gauges_are_dropped_and_a_live_ones_kept(tmp_path: Path):
    script = (
        "from prometheus_client import Gauge;"
        "Gauge('probe_in_flight', 'x', multiprocess_mode='livesum').set(3)"
    )
    subprocess.run(
        [sys.executable, "-c", script], env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}, check=True
    )

    def scraped() -> str:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, str(tmp_path))
        return generate_latest(registry).decode()

    assert "probe_in_flight 3.0" in scraped()
    live = tmp_path / "gauge_livesum_1.db"  # pid 1 is always alive
    live.write_bytes((next(tmp_path.glob("gauge_livesum_*.db"))).read_bytes())
    forget_dead_workers(tmp_path)
    assert [p.name for p in tmp_path.glob("gauge_live*.db")] == ["gauge_livesum_1.db"]
    assert "probe_in_flight 3.0" in scraped()
