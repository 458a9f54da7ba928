"""Resident memory of server processes, sampled in the background while a benchmark runs, or read as the
kernel's high-water mark of one process; and the CPU time a process has used."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from benchmarks.common.process_groups import members


def rss(pid: int | str) -> int:
    """Resident memory (bytes) of one process (``"self"``: this one); 0 once it is gone."""
    return _status(pid, "VmRSS")


def peak_rss(pid: int | str) -> int:
    """The most resident memory (bytes) one process has held since ``reset_peak``: exact, where sampling
    can miss a peak between two samples."""
    return _status(pid, "VmHWM")


def reset_peak(pid: int | str) -> None:
    """Start ``peak_rss`` again from the process's resident memory now (Linux's clear_refs, value 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def cpu_seconds(pid: int | str) -> float:
    """User and system CPU time one process has used, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _status(pid: int | str, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
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
