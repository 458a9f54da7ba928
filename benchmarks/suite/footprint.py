"""What one more replica costs: the resident memory of a serving unit idle and at its peak, and the time
from its start command to its first answer, for our stack and for its peers (make bench).

Our serving unit is what compose and Kubernetes scale: TorchServe (front end and worker), the reconciler
and the gateway with its workers; nginx and Redis are shared by every replica and not counted. A peer is
one process. Memory is the resident set (RSS) summed over every process of the unit's process groups.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from benchmarks.common.memory import rss
from benchmarks.common.process_groups import members

# The native stack's components that make up replica 1's serving unit (launchers.stack names them).
UNIT = ("torchserve-1", "reconciler-1", "gateway-1")
SETTLE_SECONDS = 3.0  # after the first answer, before idle memory is read: lazy pools settle


KINDS = (  # a fragment of the command line, and the name it stands for; the first that matches wins
    ("org.pytorch.serve.ModelServer", "torchserve front end (JVM)"),
    ("model_service_worker", "torchserve worker"),
    ("bin/torchserve", "torchserve launcher"),  # TorchServe's own CLI, waiting on its JVM
    ("multiprocessing", "gateway worker"),  # uvicorn's, when the gateway runs several
    ("-m gateway", "gateway"),
    ("-m ops.reconciler", "reconciler"),
)


def process_name(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "gone"
    return next((name for fragment, name in KINDS if fragment in argv), argv.split(" ", 1)[0])


def rss_by_process(pgids: list[int]) -> dict[str, float]:
    """MB of resident memory by kind of process, over every live process of ``pgids``."""
    by_name: dict[str, float] = {}
    for pid, _ in members(pgids):
        name = process_name(pid)
        by_name[name] = by_name.get(name, 0.0) + rss(pid) / 2**20
    return by_name


def seconds_to_first_answer(url: str, image: bytes, since: float, timeout: float = 300) -> float:
    """Seconds from ``since`` (a ``time.perf_counter()`` taken before the start command) to the first 200
    for ``image`` at ``url``."""
    while time.perf_counter() - since < timeout:
        try:
            response = httpx.post(url, files={"file": ("shot.jpg", image, "image/jpeg")}, timeout=30)
            if response.status_code == 200:
                return time.perf_counter() - since
        except httpx.HTTPError:
            pass  # not listening yet
        time.sleep(0.05)
    raise RuntimeError(f"no answer from {url} within {timeout:.0f} s of its start")


def idle(groups: dict[str, list[int]]) -> dict[str, dict[str, float]]:
    """Each system's memory by process, read once every system has answered and settled."""
    time.sleep(SETTLE_SECONDS)
    return {system: rss_by_process(pgids) for system, pgids in groups.items()}


def markdown(footprint: dict[str, dict], systems: tuple[str, ...], names: dict[str, str]) -> list[str]:
    """The cost-per-replica table, and where our unit's memory goes."""
    lines = [
        "| system | start to first answer s | idle RSS MB | peak RSS MB under load |",
        "| --- | --- | --- | --- |",
    ]
    for system in systems:
        lines.append(
            f"| {names[system]} | {footprint['start_s'][system]:.1f} | "
            f"{sum(footprint['idle'][system].values()):.0f} | {footprint['peak_mb'][system]:.0f} |"
        )
    ours = footprint["idle"]["ours"]
    parts = ", ".join(f"{name} {mb:.0f}" for name, mb in sorted(ours.items(), key=lambda kv: -kv[1]))
    return [*lines, "", f"Our serving unit idle, MB by process: {parts}."]
