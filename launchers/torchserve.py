"""A real TorchServe and its reconciler for tests and benchmarks: a private working directory, free
ports, the shipped config.properties, started the one way everything starts it (``python -m
ops.torchserve``), and converged to a declared state by ``python -m ops.reconciler`` as in production."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from inference import replica_status
from inference.formats import DEFAULT_MAX_UPLOAD_BYTES
from inference.replica_status import ReplicaStatus
from launchers import REPO
from launchers.procs import ManagedProcess, free_ports, require_binary, wait_until
from ops import torchserve_keys
from ops.archives import inspect
from ops.declared import DeclaredState, ModelSpec, VersionSpec, write


@dataclass
class TorchServe:
    proc: ManagedProcess
    reconciler: ManagedProcess
    workdir: Path
    inference_port: int
    management_port: int
    metrics_port: int
    declared_file: Path
    status_dir: Path
    replica: str
    model_store: Path

    @property
    def inference_url(self) -> str:
        return f"http://127.0.0.1:{self.inference_port}"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.management_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    @property
    def key_file(self) -> Path:
        """TorchServe's own, with every key."""
        return self.workdir / "ts" / "key_file.json"

    @property
    def gateway_key_file(self) -> Path:
        """The reconciler's copy for the gateway: the inference key only."""
        return self.workdir / "unit" / "gateway-keys.json"

    @property
    def status_file(self) -> Path:
        return self.status_dir / f"{self.replica}.json"

    @property
    def model_log(self) -> Path:
        """The workers' output (the handler's log lines), as TorchServe writes it to LOG_LOCATION."""
        return self.workdir / "ts" / "logs" / "model_log.log"

    def status(self) -> ReplicaStatus:
        return replica_status.read(self.status_file)

    def headers(self, kind: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {torchserve_keys.key(self.key_file, kind)}"}

    def predict(
        self, body: bytes, content_type: str = "image/jpeg", endpoint: str = "predictions", token: bool = True
    ) -> httpx.Response:
        """``body`` to ``fromsoft``'s default version on the inference API (``endpoint``: predictions or
        explanations), with the inference key unless ``token`` is False."""
        headers = {"Content-Type": content_type, **(self.headers("inference") if token else {})}
        return httpx.post(
            f"{self.inference_url}/{endpoint}/fromsoft", content=body, headers=headers, timeout=60
        )

    def workers(self, model: str) -> list[dict[str, object]]:
        response = httpx.get(
            f"{self.management_url}/models/{model}", headers=self.headers("management"), timeout=5
        )
        response.raise_for_status()
        return [w for version in response.json() for w in version.get("workers", [])]

    def models(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """``python -m ops.models ARGS`` on this replica's declared state (``env``: more settings, such as
        the REDIS_URL `promote` reads a canary's figures from)."""
        return models(self.model_store, self.declared_file, self.status_dir, *args, **env)

    def wait_converged(self, timeout: float = 180) -> None:
        """Until the reconciler reports that TorchServe serves the declared state."""
        wait_until(lambda: self.status().converged, timeout, "TorchServe converged", self.proc)

    def stop(self) -> None:
        self.reconciler.stop(grace=10)
        self.proc.stop(grace=30)


def models(
    store: Path, declared_file: Path, status_dir: Path, *args: str, **settings: str
) -> subprocess.CompletedProcess[str]:
    """``python -m ops.models ARGS`` for a deployment (its store, declared file and replicas' reports, and
    ``settings``); raises when it fails (a refused change, or replicas that did not converge)."""
    where = {
        "MODEL_STORE": str(store),
        "MODELS_FILE": str(declared_file),
        "REPLICA_STATUS_DIR": str(status_dir),
    }
    return ops_models(*args, **where, **settings)


def ops_models(*args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """``python -m ops.models ARGS`` with ``settings`` on top of this process's environment; raises when
    it fails, with its output."""
    done = subprocess.run(
        [sys.executable, "-m", "ops.models", *args],
        cwd=REPO,
        env={**os.environ, **settings},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"ops.models {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        )
    return done


def declare(store: Path, archives: list[str], path: Path) -> Path:
    """A declared state serving ``archives`` of ``store`` (one worker each; a model's first its default)."""
    models: dict[str, ModelSpec] = {}
    for archive in archives:
        info = inspect(store / archive)
        spec = VersionSpec(archive=archive)
        if info.name in models:
            versions = {**models[info.name].versions, info.version: spec}
            models[info.name] = models[info.name].model_copy(update={"versions": versions})
        else:
            models[info.name] = ModelSpec(default=info.version, versions={info.version: spec})
    path.parent.mkdir(parents=True, exist_ok=True)
    write(path, DeclaredState(models=models))
    return path


def unit_env(
    model_store: Path,
    workdir: Path,
    declared_file: Path,
    ports: list[int],
    max_upload_bytes: int,
    status_dir: Path,
    replica: str,
) -> dict[str, str]:
    """The settings (ops.settings) of one TorchServe and its reconciler, on loopback."""
    names = ("INFERENCE", "MANAGEMENT", "METRICS", "GRPC", "GRPC_MANAGEMENT", "WORKER")
    return {
        **{f"TS_{name}_PORT": str(port) for name, port in zip(names, ports, strict=True)},
        "TS_BIND": "127.0.0.1",
        "TS_WORKDIR": str(workdir / "ts"),
        "MODEL_STORE": str(model_store),
        "MODELS_FILE": str(declared_file),
        "MAX_UPLOAD_BYTES": str(max_upload_bytes),
        "TORCHSERVE_MANAGEMENT_URL": f"http://127.0.0.1:{ports[1]}",
        "TORCHSERVE_KEY_FILE": str(workdir / "ts" / "key_file.json"),
        "GATEWAY_KEY_FILE": str(workdir / "unit" / "gateway-keys.json"),
        "REPLICA_STATUS_DIR": str(status_dir),
        "REPLICA_ID": replica,
        "RECONCILE_SECONDS": "1",
        "PYTHONPATH": str(REPO),
    }


def start_torchserve(
    model_store: Path,
    workdir: Path,
    models: str = "fromsoft.mar",
    declared_file: Path | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    wait: bool = True,
    status_dir: Path | None = None,
    replica: str = "test",
) -> TorchServe:
    """``models``: archives of ``model_store`` to declare (comma-separated), unless ``declared_file`` is
    given; returns once the reconciler reports the state served (``wait``). Replicas of one deployment
    share ``status_dir`` (REPLICA_STATUS_DIR) under names of their own."""
    require_binary("java", "openjdk-17-jre-headless")
    workdir.mkdir(parents=True, exist_ok=True)
    declared_file = declared_file or declare(model_store, models.split(","), workdir / "models.yaml")
    ports = free_ports(6)
    status_dir = status_dir or workdir / "status"
    env = unit_env(model_store, workdir, declared_file, ports, max_upload_bytes, status_dir, replica)
    python = sys.executable
    proc = ManagedProcess([python, "-m", "ops.torchserve"], workdir / "torchserve.log", env=env, cwd=REPO)
    reconciler = ManagedProcess(
        [python, "-m", "ops.reconciler"], workdir / "reconciler.log", env=env, cwd=REPO
    )
    server = TorchServe(
        proc,
        reconciler,
        workdir,
        ports[0],
        ports[1],
        ports[2],
        declared_file,
        status_dir,
        replica,
        model_store,
    )
    try:
        if wait:
            server.wait_converged()
    except BaseException:
        server.stop()
        raise
    return server
