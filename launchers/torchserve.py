"""A real TorchServe for tests: private working directory, free ports, shipped config.properties."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from handler.ts_config import listener_overrides, read_keys, render, upload_overrides
from inference.formats import DEFAULT_MAX_UPLOAD_BYTES
from launchers import REPO
from launchers.procs import ManagedProcess, free_port, require_binary, wait_until


@dataclass
class TorchServe:
    proc: ManagedProcess
    workdir: Path
    inference_port: int
    management_port: int
    metrics_port: int
    token_auth: bool

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
        return self.workdir / "key_file.json"

    @property
    def model_log(self) -> Path:
        """The workers' output (the handler's log lines), as TorchServe writes it to LOG_LOCATION."""
        return self.workdir / "logs" / "model_log.log"

    def keys(self) -> dict[str, str]:
        return read_keys(self.key_file) if self.token_auth else {}

    def headers(self, kind: str) -> dict[str, str]:
        key = self.keys().get(kind)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def workers(self, model: str) -> list[dict[str, object]]:
        response = httpx.get(
            f"{self.management_url}/models/{model}", headers=self.headers("management"), timeout=5
        )
        response.raise_for_status()
        return [w for version in response.json() for w in version.get("workers", [])]

    def wait_ready(self, model: str = "fromsoft", timeout: float = 180) -> None:
        def ready() -> bool:
            workers = self.workers(model)
            return bool(workers) and all(w.get("status") == "READY" for w in workers)

        wait_until(ready, timeout, f"TorchServe model {model}", self.proc)

    def stop(self) -> None:
        self.proc.stop(grace=30)


def start_torchserve(
    model_store: Path,
    workdir: Path,
    models: str = "fromsoft.mar",
    token_auth: bool = True,
    extra: dict[str, str] | None = None,
    wait_model: str | None = "fromsoft",
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
) -> TorchServe:
    require_binary("java", "openjdk-17-jre-headless")
    workdir.mkdir(parents=True, exist_ok=True)
    ports = [free_port() for _ in range(6)]
    overrides = {
        **listener_overrides("127.0.0.1", *ports),
        **upload_overrides(max_upload_bytes),
        "model_store": str(model_store),
        "load_models": models,
        "disable_token_authorization": "false" if token_auth else "true",
        **(extra or {}),
    }
    config = workdir / "config.properties"
    config.write_text(render((REPO / "config.properties").read_text(), overrides))
    tmp = workdir / "tmp"
    tmp.mkdir(exist_ok=True)
    env = {
        "TMPDIR": str(tmp),
        "TEMP": str(tmp),
        "LOG_LOCATION": str(workdir / "logs"),
        "METRICS_LOCATION": str(workdir / "logs"),
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "MAX_UPLOAD_BYTES": str(max_upload_bytes),  # the handler's limit (handler.settings)
    }
    proc = ManagedProcess(
        [
            str(Path(sys.executable).parent / "torchserve"),
            "--start",
            "--foreground",
            "--ncs",
            "--log-config",
            str(REPO / "log4j2.xml"),
            "--ts-config",
            str(config),
            "--model-store",
            str(model_store),
        ],
        workdir / "torchserve.log",
        env=env,
        cwd=workdir,
    )
    server = TorchServe(proc, workdir, ports[0], ports[1], ports[2], token_auth)
    try:
        if token_auth:
            wait_until(lambda: server.key_file.is_file(), 60, "TorchServe key file", proc)
        if wait_model:
            server.wait_ready(wait_model)
    except BaseException:
        server.stop()
        raise
    return server
