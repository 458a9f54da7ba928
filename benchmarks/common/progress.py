"""What a long benchmark is doing, on standard error, so that standard output and the files it writes keep
the figures alone: a line as each phase starts, with what it does and about how long it takes, a line as
it ends with how long it took, and a tqdm bar over each sweep (moved between two measurements, never
inside one, so the figures do not change).

A phase's expected length is its work at the pace of the reference run (2 cores; the figures in
BENCHMARKS.md), scaled by how this machine has kept to the estimates of the phases before it; a phase
that lasts a given time (traffic for --seconds) is not scaled, nor does it count towards the pace.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import NamedTuple

from tqdm import tqdm


class Phase(NamedTuple):
    what: str  # what it does, as the line that starts it says
    seconds: float  # how long it takes at the reference pace
    paced: bool = True  # False: it lasts ``seconds`` whatever the machine (a given time)


def say(line: str) -> None:
    """``line`` on standard error, above any bar (which tqdm then draws again)."""
    tqdm.write(line, file=sys.stderr)


def out(line: str) -> None:
    """``line`` on standard output, where it is part of the job's printout, above any bar."""
    tqdm.write(line, file=sys.stdout)
    sys.stdout.flush()


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 100 else f"{seconds / 60:.1f} min"


class Phases:
    """A job's phases, one after another (``plan``: each by name): ``next`` ends the phase before it and
    starts the one it names."""

    def __init__(self, job: str, plan: dict[str, Phase]) -> None:
        self.job, self.plan = job, plan
        self.number = 0
        self.current: tuple[Phase, float] | None = None  # the phase, and when it started
        self.expected = self.took = 0.0  # over the paced phases ended so far
        self.began = time.monotonic()

    def pace(self) -> float:
        """This machine's seconds per second of the reference run, so far (1 before a phase has ended)."""
        return self.took / self.expected if self.expected else 1.0

    def next(self, name: str) -> None:
        self.end()
        self.number += 1
        phase = self.plan[name]
        about = phase.seconds * (self.pace() if phase.paced else 1.0)
        say(f"{self.job}: [{self.number}/{len(self.plan)}] {phase.what}: about {duration(about)}")
        self.current = (phase, time.monotonic())

    def end(self) -> None:
        if self.current is None:
            return
        phase, started = self.current
        took = time.monotonic() - started
        if phase.paced:
            self.expected += phase.seconds
            self.took += took
        say(f"{self.job}: [{self.number}/{len(self.plan)}] done in {duration(took)}")
        self.current = None

    def __enter__(self) -> Phases:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.end()
        if kind is None:
            say(f"{self.job}: finished in {duration(time.monotonic() - self.began)}")


def bar(total: int, what: str, unit: str) -> tqdm:
    """A bar over a sweep of ``total`` ``unit``s, on standard error."""
    return tqdm(total=total, desc=what, unit=unit, file=sys.stderr, leave=False, mininterval=1.0)


@contextmanager
def clock(seconds: float, what: str) -> Iterator[None]:
    """A bar over ``seconds`` of wall time, moved once a second by a thread of its own: for a phase whose
    length is time (traffic for a fixed while) and whose own loop sleeps and polls."""
    stop = threading.Event()
    started = time.monotonic()
    with tqdm(total=round(seconds), desc=what, unit="s", file=sys.stderr, leave=False) as shown:

        def tick() -> None:
            while not stop.wait(1.0):
                shown.update(min(round(time.monotonic() - started), shown.total) - shown.n)

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            yield
        finally:
            stop.set()
            ticker.join()
