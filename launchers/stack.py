"""The native stack as `make up` runs it (scripts/stack.sh), on free loopback ports with its own state
folder, for tests and benchmarks that need the whole thing (replica 1 on the ports chosen here, further
replicas on free ones that stack.sh records)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from launchers import REPO
from launchers.torchserve import ops_models

PORTS = (
    "WEB_PORT",
    "GATEWAY_PORT",
    "REDIS_PORT",
    "TS_INFERENCE_PORT",
    "TS_MANAGEMENT_PORT",
    "TS_METRICS_PORT",
    "TS_GRPC_PORT",
    "TS_GRPC_MANAGEMENT_PORT",
    "TS_WORKER_PORT",
)


def stack(command: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``scripts/stack.sh <command> [args]`` with ``env`` on top of this process's environment."""
    return subprocess.run(
        ["bash", "scripts/stack.sh", command, *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


# Limits no benchmark or load test from one loopback address should meet.
UNLIMITED = {
    "RATE_LIMIT": "1000000/minute",
    "CANARY_CLIENT_LIMIT": "1000000/hour",
    "EDGE_LIMIT_RATE": "100000",
    "EDGE_LIMIT_BURST": "100000",
}


class NativeStack:
    """``env``: the stack's settings (ports are chosen free unless given)."""

    def __init__(self, var_dir: Path, model_store: Path, **env: str) -> None:
        from launchers.procs import free_ports

        self.var_dir = var_dir
        self.env = {name: str(port) for name, port in zip(PORTS, free_ports(len(PORTS)), strict=True)}
        self.env.update(VAR_DIR=str(var_dir), MODEL_STORE=str(model_store), **env)

    def url(self, port: str) -> str:
        return f"http://127.0.0.1:{self.env[port]}"

    @property
    def web(self) -> str:
        return self.url("WEB_PORT")

    def key_file(self, replica: int = 1) -> Path:
        """TorchServe's key file of ``replica``."""
        return self.var_dir / "replicas" / str(replica) / "torchserve" / "key_file.json"

    def port(self, replica: int, name: str) -> int:
        """A port of ``replica`` (TS_MANAGEMENT_PORT, GATEWAY_PORT, ...), as stack.sh chose it."""
        ports = (self.var_dir / "replicas" / str(replica) / "ports.env").read_text().split()
        return int(dict(line.split("=", 1) for line in ports)[name])

    @property
    def status_dir(self) -> Path:
        """Where every replica's reconciler reports (REPLICA_STATUS_DIR)."""
        return self.var_dir / "status"

    def pid(self, component: str) -> int:
        """The process group of ``component``: nginx, redis, or torchserve-N, reconciler-N, gateway-N."""
        return int((self.var_dir / "run" / f"{component}.pid").read_text())

    def models(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``python -m ops.models ARGS`` against this stack as an operator runs it: given only the folder
        the stack was started with (VAR_DIR), it finds the rest in the stack.env the stack wrote there."""
        return ops_models(*args, VAR_DIR=str(self.var_dir))

    def up(self) -> subprocess.CompletedProcess[str]:
        started = stack("up", self.env)
        if started.returncode != 0:
            raise RuntimeError(f"stack.sh up failed:\n{started.stdout}\n{started.stderr}")
        return started

    def down(self) -> subprocess.CompletedProcess[str]:
        return stack("down", self.env)

    def restart(self, component: str, **env: str) -> None:
        """``scripts/stack.sh restart COMPONENT`` with ``env`` added to the stack's settings for good."""
        self.env.update(env)
        restarted = stack("restart", self.env, component)
        if restarted.returncode != 0:
            raise RuntimeError(
                f"stack.sh restart {component} failed:\n{restarted.stdout}\n{restarted.stderr}"
            )
