"""The faults of the soak run (benchmarks/soak/run.py), one after another against the running native stack,
each with the condition that says it has been recovered from. A probe, separate from the load, sends
its own never-seen images through nginx to tell."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from typing import Any

import httpx

from benchmarks.common.archives import MODEL
from benchmarks.common.images import distinct
from launchers.stack import NativeStack
from ops import replica_status
from ops.replica_status import ReplicaStatus


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


def report(native: NativeStack, replica: int) -> ReplicaStatus | None:
    """What ``replica``'s reconciler last reported (None while it has not)."""
    try:
        return replica_status.read(native.status_dir / f"{replica}.json")
    except (OSError, ValueError):
        return None


def worker_pids(native: NativeStack, replica: int = 1) -> list[tuple[int, str]]:
    """(pid, status) of the default version's workers on ``replica``."""
    status = report(native, replica)
    model = status.models.get(MODEL) if status else None
    default = model.version(model.default) if model else None
    return [(w.pid or -1, str(w.status)) for w in default.workers] if default else []


def faults(
    native: NativeStack, probe: Probe, new_version: tuple[str, str], switched: list[float]
) -> list[Fault]:
    """``new_version``: (archive file name in the model store, its version). ``switched`` receives the
    moment the command that made it the default returned (every replica serving it by then)."""
    killed: list[int] = []
    replicas = range(1, int(native.env.get("SERVING_REPLICAS", "1")) + 1)

    def kill_redis() -> None:
        os.killpg(native.pid("redis"), signal.SIGKILL)
        time.sleep(2)  # Redis stays away a moment: the gateway serves without it meanwhile
        native.restart("redis")

    def kill_worker() -> None:
        pid = worker_pids(native)[0][0]
        killed.append(pid)
        os.kill(pid, signal.SIGKILL)

    def worker_replaced() -> bool:
        workers = worker_pids(native)
        return (
            bool(workers)
            and all(status == "READY" and pid not in killed for pid, status in workers)
            and probe.answers()
        )

    def switch() -> None:
        archive, _ = new_version
        native.models("add", archive, "--default")  # returns once every replica serves it
        switched.append(time.time())

    def new_version_answers() -> bool:
        return all(probe.version() == new_version[1] for _ in range(4))

    def scaled_to(workers: int) -> Callable[[], bool]:
        def ready() -> bool:
            every = all([s for _, s in worker_pids(native, n)] == ["READY"] * workers for n in replicas)
            return every and probe.answers()

        return ready

    def restart_torchserve() -> None:
        last = f"torchserve-{replicas[-1]}"
        os.killpg(native.pid(last), signal.SIGKILL)
        native.restart(last)

    def every_replica_converged() -> bool:
        return all((status := report(native, n)) and status.converged for n in replicas) and probe.answers()

    def reload_nginx() -> None:
        os.kill(native.pid("nginx"), signal.SIGHUP)

    return [
        Fault("Redis killed, started again 2 s later", kill_redis, probe.caches),
        Fault("a TorchServe worker killed", kill_worker, worker_replaced),
        Fault(
            f"a new version made the default on {len(replicas)} replica(s) (ops.models)",
            switch,
            new_version_answers,
        ),
        Fault(
            "workers scaled 1 -> 2 (ops.models)",
            lambda: native.models("scale", MODEL, "--workers", "2"),
            scaled_to(2),
        ),
        Fault(
            "workers scaled 2 -> 1 (ops.models)",
            lambda: native.models("scale", MODEL, "--workers", "1"),
            scaled_to(1),
        ),
        Fault(
            f"replica {replicas[-1]}'s whole TorchServe killed and started again",
            restart_torchserve,
            every_replica_converged,
        ),
        Fault("nginx reloaded", reload_nginx, probe.answers),
    ]
