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
from inference import replica_status
from inference.replica_status import ReplicaStatus
from launchers.stack import NativeStack


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


class Faults:
    """The soak's faults on ``native``, each an action and the check that says the stack recovered.
    ``new_version``: (archive file name in the model store, its version); ``switched`` receives the
    moment the command that made it the default returned (every replica serving it by then)."""

    def __init__(
        self, native: NativeStack, probe: Probe, new_version: tuple[str, str], switched: list[float]
    ) -> None:
        self.native, self.probe, self.new_version, self.switched = native, probe, new_version, switched
        self.killed: list[int] = []
        self.replicas = range(1, int(native.env.get("SERVING_REPLICAS", "1")) + 1)

    def plan(self) -> list[Fault]:
        last = self.replicas[-1]
        return [
            Fault("Redis killed, started again 2 s later", self.kill_redis, self.probe.caches),
            Fault("a TorchServe worker killed", self.kill_worker, self.worker_replaced),
            Fault(
                f"a new version made the default on {len(self.replicas)} replica(s) (ops.models)",
                self.switch,
                self.new_version_answers,
            ),
            Fault("workers scaled 1 -> 2 (ops.models)", lambda: self.scale(2), lambda: self.scaled_to(2)),
            Fault("workers scaled 2 -> 1 (ops.models)", lambda: self.scale(1), lambda: self.scaled_to(1)),
            Fault(
                f"replica {last}'s whole TorchServe killed and started again",
                self.restart_torchserve,
                self.every_replica_converged,
            ),
            Fault("nginx reloaded", self.reload_nginx, self.probe.answers),
        ]

    def kill_redis(self) -> None:
        os.killpg(self.native.pid("redis"), signal.SIGKILL)
        time.sleep(2)  # Redis stays away a moment: the gateway serves without it meanwhile
        self.native.restart("redis")

    def kill_worker(self) -> None:
        pid = worker_pids(self.native)[0][0]
        self.killed.append(pid)
        os.kill(pid, signal.SIGKILL)

    def worker_replaced(self) -> bool:
        workers = worker_pids(self.native)
        return (
            bool(workers)
            and all(status == "READY" and pid not in self.killed for pid, status in workers)
            and self.probe.answers()
        )

    def switch(self) -> None:
        archive, _ = self.new_version
        self.native.models("add", archive, "--default")  # returns once every replica serves it
        self.switched.append(time.time())

    def new_version_answers(self) -> bool:
        return all(self.probe.version() == self.new_version[1] for _ in range(4))

    def scale(self, workers: int) -> None:
        self.native.models("scale", MODEL, "--workers", str(workers))

    def scaled_to(self, workers: int) -> bool:
        every = all([s for _, s in worker_pids(self.native, n)] == ["READY"] * workers for n in self.replicas)
        return every and self.probe.answers()

    def restart_torchserve(self) -> None:
        last = f"torchserve-{self.replicas[-1]}"
        os.killpg(self.native.pid(last), signal.SIGKILL)
        self.native.restart(last)

    def every_replica_converged(self) -> bool:
        converged = all((status := report(self.native, n)) and status.converged for n in self.replicas)
        return converged and self.probe.answers()

    def reload_nginx(self) -> None:
        os.kill(self.native.pid("nginx"), signal.SIGHUP)
