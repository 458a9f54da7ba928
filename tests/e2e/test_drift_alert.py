"""The drift alerts fire in a real Prometheus scraping the native stack: visitors send photos of no game
for a while (test-sized windows: the rules' hour is half a minute here, their 200 answers ten, their 15
minutes none), and the stack's answers stop looking like those of its model's test split. The rules are
the shipped ones with only those numbers changed; their hour-long behaviour is unit-tested by promtool
(monitoring/alerts.test.yml)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from benchmarks.common.images import distinct
from launchers.procs import wait_until
from launchers.prometheus import MONITORING, start_prometheus
from launchers.stack import UNLIMITED, NativeStack
from tests.conftest import run_cli

DRIFT = ("UnknownShareHigh", "LabelMixDrift", "ConfidenceDrift")


def test_photos_of_no_game_raise_a_drift_alert(model_store: Path, tmp_path: Path):
    photos = tmp_path / "photos"
    run_cli("photos", photos)
    images = [p.read_bytes() for p in sorted(photos.glob("*.jpg"))]
    rules = (
        (MONITORING / "alerts.yml")
        .read_text()
        .replace("[1h]", "[30s]")
        .replace("vector(200)", "vector(10)")
        .replace("for: 15m", "for: 0s")
    )
    native = NativeStack(tmp_path / "var", model_store, **UNLIMITED)
    native.up()
    prometheus = None
    try:
        targets = {
            "gateway": [f"127.0.0.1:{native.env['GATEWAY_PORT']}"],
            "torchserve": [f"127.0.0.1:{native.env['TS_METRICS_PORT']}"],
        }
        prometheus = start_prometheus(tmp_path, targets, rules=rules)

        def scraped() -> bool:
            up = prometheus.api("query", query='up{job="gateway"}')["result"]
            return bool(up) and up[0]["value"][1] == "1"

        wait_until(scraped, 30, "the gateway scraped")  # counts before the first scrape would not move
        for n in range(40):  # spread over some 15 s, inside the half-minute window
            time.sleep(0.4)
            image = distinct(images[n % len(images)], n)
            answer = httpx.post(
                f"{native.web}/api/v1/classify", files={"file": ("p.jpg", image, "image/jpeg")}, timeout=60
            )
            assert answer.status_code == 200, answer.text

        def firing() -> set[str]:
            alerts = prometheus.api("alerts")["alerts"]
            return {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"} & set(DRIFT)

        wait_until(lambda: bool(firing()), 60, "a drift alert firing")
        reference = prometheus.api("query", query="gateway_reference_label_share")["result"]
        assert {r["metric"]["label"] for r in reference} >= {"elden_ring", "unknown"}
    finally:
        if prometheus is not None:
            prometheus.stop()
        native.down()
