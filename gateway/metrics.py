"""Prometheus metrics: what an operator watches before scaling (docs/operations.md, Before
scaling TorchServe's workers) and what monitoring/alerts.yml alerts on. With several uvicorn workers,
set PROMETHEUS_MULTIPROC_DIR (the native stack and compose do) so that /metrics sums every worker's
counts; gauges of state (the breaker, the served model) show the largest value any live worker holds."""

from __future__ import annotations

import os
import re
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REQUESTS = Counter(
    "gateway_requests_total", "Requests answered, by route template and status", ["route", "status"]
)
LATENCY = Histogram(
    "gateway_request_duration_seconds",
    "Time from a request's arrival to its response's headers, by route template",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
UPSTREAM_LATENCY = Histogram(
    "gateway_upstream_request_duration_seconds",
    "Calls to TorchServe by endpoint (predictions, explanations), answered or failed",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CACHE = Counter(
    "gateway_cache_lookups_total",
    "Answer-cache lookups by result: hit, miss, rejected (an entry that does not answer its key), error "
    "(Redis failed), skipped (breaker open)",
    ["result"],
)
COALESCED = Counter(
    "gateway_coalesced_requests_total",
    "Images (a classification, an explanation, a batch's file) answered by a model call another request "
    "of the same worker had in flight for them, instead of a call of their own",
)
RATE_LIMITED = Counter("gateway_rate_limited_total", "Requests refused by the rate limiter (429)")
IN_FLIGHT = Gauge(
    "gateway_requests_in_flight", "Requests under /api/ being served now", multiprocess_mode="livesum"
)
REDIS_BREAKER_OPEN = Gauge(
    "gateway_redis_breaker_open",
    "1 while a worker skips Redis after repeated failures (cache off, rate limits counted in process)",
    multiprocess_mode="livemax",
)
SERVED_MODEL = Gauge(
    "gateway_served_model_info",
    "1 for the version TorchServe serves by default, as the gateway's snapshot last saw it",
    ["model", "version"],
    multiprocess_mode="livemax",
)
MODEL_WORKERS = Gauge(
    "gateway_model_workers",
    "TorchServe's workers of each model version by status (READY, ...); all 0 while it is unreachable",
    ["model", "version", "status"],
    multiprocess_mode="livemax",
)
DECLARED_MODEL = Gauge(
    "gateway_declared_model_info",
    "1 for the version the declared state makes the default, as this replica's reconciler last read it",
    ["model", "version"],
    multiprocess_mode="livemax",
)
DECLARED_VALID = Gauge(
    "gateway_declared_state_valid",
    "0 while the declared file is invalid and the replica keeps serving its last valid state",
    multiprocess_mode="livemin",
)
REPLICA_CONVERGED = Gauge(
    "gateway_replica_converged",
    "1 while this replica serves the declared state, as its reconciler last reported",
    multiprocess_mode="livemin",
)
RECONCILER_REPORTED = Gauge(
    "gateway_reconciler_report_timestamp_seconds",
    "When this replica's reconciler last reported (Unix time): it also renews TorchServe's keys",
    multiprocess_mode="livemax",
)
READY_WORKERS = Gauge(
    "gateway_model_ready_workers",
    "READY workers of the version served by default: 0 until TorchServe first answers, and while it does not",
    ["model"],
    multiprocess_mode="livemax",
)
FEEDBACK = Counter(
    "gateway_feedback_total",
    "Visitors' verdicts on answers (right, wrong, not_a_game) by the model version judged; a vote is counted "
    "when first recorded, not when its visitor changes it: right / (right + wrong) is the reported accuracy",
    ["model", "version", "verdict"],
)
# Clients' API keys by their public id (fsl_<prefix>), never the secret: one series per key the operator
# made, and "unknown" for every key the store does not hold, so a client cannot mint label values.
KEY_REQUESTS = Counter(
    "gateway_key_requests_total", "Requests carrying a live API key, by key (fsl_<prefix>)", ["key"]
)
KEY_REFUSALS = Counter(
    "gateway_key_refusals_total",
    "Keyed requests refused, by key and reason: rate, quota, concurrency, cost (more than the key ever "
    'allows), scope, unavailable (Redis or the key store away), invalid (key "unknown")',
    ["key", "reason"],
)
KEY_ANSWERED_UNITS = Counter(
    "gateway_key_answered_units_total", "Units of answered keyed requests: what daily quotas count", ["key"]
)
UNKNOWN_KEY = "unknown"
KEY_EXPIRY = "gateway_torchserve_key_expiry_timestamp_seconds"


def redis_breaker_changed(is_open: bool) -> None:
    REDIS_BREAKER_OPEN.set(1 if is_open else 0)


class ModelGauges:
    """``model``'s served and declared default and its workers, from each report gateway.model_state
    reads. A label set the latest report no longer has (a version unregistered, a worker now READY) is
    set to 0."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.versions: set[tuple[str, str]] = set()
        self.declared: set[tuple[str, str]] = set()
        self.workers: set[tuple[str, str, str]] = set()
        READY_WORKERS.labels(model).set(0)

    def show(self, default_version: str | None, versions: list[dict[str, Any]], report: Any) -> None:
        """``report``: the replica's (inference.replica_status.ReplicaStatus)."""
        served = {(self.model, default_version): 1} if default_version else {}
        self.versions = _replace(SERVED_MODEL, self.versions, served)
        declared = report.models.get(self.model)
        wanted = declared.declared_default if declared else None
        self.declared = _replace(DECLARED_MODEL, self.declared, {(self.model, wanted): 1} if wanted else {})
        counts = Tally(
            (self.model, v["version"], str(w.get("status"))) for v in versions for w in v.get("workers", [])
        )
        self.workers = _replace(MODEL_WORKERS, self.workers, counts)
        READY_WORKERS.labels(self.model).set(counts[(self.model, default_version, "READY")])
        DECLARED_VALID.set(1 if report.declared_valid else 0)
        REPLICA_CONVERGED.set(1 if report.converged else 0)
        RECONCILER_REPORTED.set(report.updated_at)


def _replace(gauge: Gauge, shown: set[Any], values: dict[Any, int]) -> set[Any]:
    """Set ``values``, and 0 for label sets shown before that ``values`` lacks; returns those shown now."""
    for labels in shown - values.keys():
        gauge.labels(*labels).set(0)
    for labels, value in values.items():
        gauge.labels(*labels).set(value)
    return set(values)


class KeyExpiry(Collector):
    """When TorchServe's keys expire, read from its key file at each scrape: the gateway is scraped in
    every deployment (native stack, compose, the serving pod) and reads that file in each."""

    def __init__(self, expiries: Callable[[], dict[str, float]]) -> None:
        self.expiries = expiries

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            KEY_EXPIRY,
            "When TorchServe's inference key expires (Unix time); the reconciler renews it at half-life",
            labels=["kind"],
        )
        for kind, expires_at in sorted(self.expiries().items()):
            family.add_metric([kind], expires_at)
        yield family


def render(multiproc_dir: Path | None, key_expiries: Callable[[], dict[str, float]]) -> tuple[bytes, str]:
    """Every worker's metrics when they write to ``multiproc_dir``, else this process's; and the keys'."""
    keys = CollectorRegistry()
    keys.register(KeyExpiry(key_expiries))
    if multiproc_dir is not None:
        workers = CollectorRegistry()
        multiprocess.MultiProcessCollector(workers, str(multiproc_dir))
        return generate_latest(workers) + generate_latest(keys), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY) + generate_latest(keys), CONTENT_TYPE_LATEST


_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+_(\d+)\.db")


def forget_dead_workers(multiproc_dir: Path) -> None:
    """Drop the gauges of workers that died (uvicorn starts another in their place): their last
    in-flight count or breaker state would otherwise be summed or maxed into /metrics for good."""
    files = (_LIVE_GAUGE_FILE.fullmatch(path.name) for path in multiproc_dir.glob("gauge_live*.db"))
    for pid in {int(match[1]) for match in files if match}:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, str(multiproc_dir))
        except PermissionError:  # alive, another user's
            pass
