"""Debian's Prometheus (``apt-get install prometheus``) on a free loopback port, with the project's own
configuration (monitoring/prometheus.yml and its rules) and the targets it is given: the jobs and rules
compose's ``monitoring`` profile runs, pointed at a native stack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import yaml

from launchers import REPO
from launchers.procs import LoopbackServer, ManagedProcess, free_port, require_binary, wait_until

MONITORING = REPO / "monitoring"


class Prometheus(LoopbackServer):
    def api(self, path: str, **params: Any) -> Any:
        """``/api/v1/<path>``'s data; fails on an error answer."""
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        response.raise_for_status()
        answer = response.json()
        assert answer["status"] == "success", answer
        return answer["data"]


def start_prometheus(
    workdir: Path, targets: dict[str, list[str]], interval: str = "1s", rules: str | None = None
) -> Prometheus:
    """``targets``: host:port lists by job (``gateway``, ``torchserve``). The shipped configuration with
    only its scrape and evaluation interval shortened, so that a test sees data within seconds;
    ``rules``: the rules' text in place of monitoring/alerts.yml (a test's shorter windows)."""
    binary = require_binary("prometheus", "apt-get install prometheus")
    config_dir = workdir / "prometheus"
    (config_dir / "targets").mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    config["global"].update(scrape_interval=interval, evaluation_interval=interval)
    (config_dir / "prometheus.yml").write_text(yaml.safe_dump(config))
    (config_dir / "alerts.yml").write_text(rules or (MONITORING / "alerts.yml").read_text())
    for job, hosts in targets.items():
        (config_dir / "targets" / f"{job}.yml").write_text(yaml.safe_dump([{"targets": hosts}]))
    port = free_port()
    proc = ManagedProcess(
        [
            binary,
            f"--config.file={config_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        workdir / "prometheus.log",
    )
    server = Prometheus(proc, port)
    try:
        wait_until(
            lambda: httpx.get(f"{server.url}/-/ready", timeout=2).status_code == 200, 30, "prometheus", proc
        )
    except BaseException:
        server.stop()
        raise
    return server
