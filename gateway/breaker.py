"""A small circuit breaker: after a few failures in a row, stop calling a dependency for a while."""

from __future__ import annotations

import time


class CircuitBreaker:
    def __init__(self, failures: int, cooldown_seconds: float) -> None:
        self.threshold = failures
        self.cooldown = cooldown_seconds
        self.failures = 0
        self.opened_at: float | None = None

    @property
    def is_open(self) -> bool:
        """True while calls should be skipped; after the cool-down one call is let through to probe."""
        if self.opened_at is None:
            return False
        if time.monotonic() - self.opened_at >= self.cooldown:
            self.opened_at = None  # half-open: the next result decides
            self.failures = self.threshold - 1
            return False
        return True

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None

    def failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = time.monotonic()
