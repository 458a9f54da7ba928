"""The real gateway (``python -m gateway``, several workers when asked), pointed at test servers."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import httpx

from launchers import REPO
from launchers.procs import LoopbackServer, ManagedProcess, free_port, wait_until
from launchers.torchserve import TorchServe
from store import migrate
from store.engine import make_engine

# The cache writes behind the answer (gateway.cache.WRITE_BEHIND_SECONDS): a repeat may reach another
# worker before Redis has the entry, so a test that expects a hit gives the write this long first.
WRITE_BEHIND_WAIT = 0.05


def gateway_env(torchserve: TorchServe, redis_url: str, **overrides: str) -> dict[str, str]:
    """The gateway of ``torchserve``'s replica: its inference API, the key and the report its reconciler
    writes."""
    env = {
        "TORCHSERVE_INFERENCE_URL": torchserve.inference_url,
        "TORCHSERVE_KEY_FILE": str(torchserve.gateway_key_file),
        "REPLICA_STATUS_FILE": str(torchserve.status_file),
        "REDIS_URL": redis_url,
        "MODEL_REFRESH_SECONDS": "1",
    }
    return {**env, **overrides}


def secret_file(path: Path) -> Path:
    """A stack secret (a key, a pepper) made once, readable by its owner alone."""
    if not path.exists():
        path.write_text(secrets.token_hex(32) + "\n")
        path.chmod(0o600)
    return path


def feedback_env(workdir: Path) -> dict[str, str]:
    """A store of the gateway's own, as the native stack gives it: a SQLite file in ``workdir``, migrated,
    the key its votes' client hashes are made with and the pepper of its API keys' hashes. Gateways that
    share the store (replicas behind one nginx) are given one DATABASE_URL, FEEDBACK_KEY_FILE and
    API_KEY_PEPPER_FILE instead."""
    workdir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{workdir / 'lens.sqlite3'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return {
        "DATABASE_URL": url,
        "FEEDBACK_KEY_FILE": str(secret_file(workdir / "feedback.key")),
        "API_KEY_PEPPER_FILE": str(secret_file(workdir / "api-key.pepper")),
    }


def start_gateway(
    workdir: Path, env: dict[str, str], workers: int = 1, wait_ready: bool = True, source: Path = REPO
) -> LoopbackServer:
    """``source``: the checkout whose gateway runs (benchmarks compare another commit's)."""
    port = free_port()
    if "DATABASE_URL" not in env:
        env = {**feedback_env(workdir), **env}
    metrics_dir = workdir / f"prometheus-{port}"  # python -m gateway creates it
    proc = ManagedProcess(
        [
            sys.executable,
            "-m",
            "gateway",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        workdir / f"gateway-{port}.log",
        env={**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "PYTHONPATH": str(source)},
        cwd=source,
    )
    gateway = LoopbackServer(proc, port)
    path = "/readyz" if wait_ready else "/healthz"
    try:
        wait_until(lambda: httpx.get(gateway.url + path, timeout=2).status_code == 200, 60, "gateway", proc)
    except BaseException:
        gateway.stop()
        raise
    return gateway
