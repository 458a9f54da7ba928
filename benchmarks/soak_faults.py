"""The faults of the soak run (benchmarks/soak.py), one after another against the running native stack,
each with the condition that says it has been recovered from. A probe, separate from the load, sends
its own never-seen images through nginx to tell."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import httpx

from benchmarks.images import distinct
from handler.manage import ManagementClient
from launchers.stack import NativeStack

MODEL = "fromsoft"


class Probe:
    """Classifications through the edge, each of bytes never sent before."""

    def __init__(self, web: str, frame: bytes) -> None:
        self.client = httpx.Client(base_url=web, timeout=30)
        self.frame = frame
        self.nonce = count(1 << 40)

    def classify(self, image: bytes | None = None) -> tuple[int, dict[str, Any]]:
        try:
            response = self.client.post(
                "/api/v1/classify", files={"file": ("p.jpg", image or self.fresh(), "image/jpeg")}
            )
            return response.status_code, response.json()
        except (httpx.HTTPError, ValueError):
            return 0, {}

    def fresh(self) -> bytes:
        return distinct(self.frame, next(self.nonce))

    def answers(self) -> bool:
        return self.classify()[0] == 200

    def caches(self) -> bool:
        """A new image, then the same again answered from the cache: Redis is back in use."""
        image = self.fresh()
        if self.classify(image)[0] != 200:
            return False
        time.sleep(0.05)  # the cache writes behind the answer
        status, body = self.classify(image)
        return status == 200 and body.get("cached") is True

    def version(self) -> str | None:
        status, body = self.classify()
        return body.get("model", {}).get("version") if status == 200 else None


@dataclass
class Fault:
    name: str
    inject: Callable[[], None]
    recovered: Callable[[], bool]


def worker_pids(manager: ManagementClient) -> list[tuple[int, str]]:
    """(pid, status) of the default version's workers."""
    described = manager.default(MODEL)
    return [(int(w.get("pid", -1)), str(w.get("status"))) for w in described[0].get("workers", [])]


def faults(
    native: NativeStack, probe: Probe, new_version: tuple[str, str], switched: list[float]
) -> list[Fault]:
    """``new_version``: (archive file name in the model store, its version). ``switched`` receives the
    moment the new version became the default."""
    manager = ManagementClient(native.url("TS_MANAGEMENT_PORT"), native.key_file)
    killed: list[int] = []

    def kill_redis() -> None:
        os.killpg(native.pid("redis"), signal.SIGKILL)
        time.sleep(2)  # Redis stays away a moment: the gateway serves without it meanwhile
        native.restart("redis")

    def kill_worker() -> None:
        pid = worker_pids(manager)[0][0]
        killed.append(pid)
        os.kill(pid, signal.SIGKILL)

    def worker_replaced() -> bool:
        workers = worker_pids(manager)
        return (
            bool(workers)
            and all(status == "READY" and pid not in killed for pid, status in workers)
            and probe.answers()
        )

    def switch() -> None:
        archive, version = new_version
        manager.register(archive, workers=1)
        manager.set_default(MODEL, version)
        switched.append(time.time())

    def new_version_answers() -> bool:
        return all(probe.version() == new_version[1] for _ in range(4))  # every gateway worker follows

    def scaled_to(workers: int) -> Callable[[], bool]:
        def ready() -> bool:
            statuses = [status for _, status in worker_pids(manager)]
            return statuses == ["READY"] * workers and probe.answers()

        return ready

    def reload_nginx() -> None:
        os.kill(native.pid("nginx"), signal.SIGHUP)

    return [
        Fault("Redis killed, started again 2 s later", kill_redis, probe.caches),
        Fault("a TorchServe worker killed", kill_worker, worker_replaced),
        Fault("a new version registered and made the default", switch, new_version_answers),
        Fault("workers scaled 1 -> 2", lambda: manager.scale(MODEL, 2, 2), scaled_to(2)),
        Fault("workers scaled 2 -> 1", lambda: manager.scale(MODEL, 1, 1), scaled_to(1)),
        Fault("nginx reloaded", reload_nginx, probe.answers),
    ]


def new_archive(store: Path, source: Path, version: str) -> str:
    """A copy of ``source`` (a .mar) that says it is ``version``: the new version an operator registers."""
    import json
    import zipfile

    name = f"{MODEL}-{version}.mar"
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(store / name, "w", zipfile.ZIP_STORED) as new:
        for item in old.infolist():
            data = old.read(item)
            if item.filename == "MAR-INF/MANIFEST.json":
                manifest = json.loads(data)
                manifest["model"]["modelVersion"] = version
                data = json.dumps(manifest, indent=2).encode()
            new.writestr(item, data)
    return name
