"""Resident memory of server processes, sampled in the background while a benchmark runs."""

from __future__ import annotations

import threading
from pathlib import Path

from benchmarks.common.process_groups import members


def rss(pid: int | str) -> int:
    """Resident memory (bytes) of one process (``"self"``: this one); 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass  # gone meanwhile
    return 0


def rss_of_groups(pids: list[int]) -> int:
    """Resident memory (bytes) of every process in the given process groups."""
    return sum(rss(pid) for pid, _ in members(pids))


class PeakMemory:
    """Samples the RSS of some process groups in the background and keeps the peak."""

    def __init__(self, pids: list[int], interval: float = 0.2) -> None:
        self.pids, self.peak, self.interval, self._stop = pids, 0, interval, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_of_groups(self.pids) if self.pids else rss("self"))
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
