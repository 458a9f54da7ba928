"""A small circuit breaker: after a few failures in a row, stop calling a dependency for a while."""

from __future__ import annotations

import time
from collections.abc import Callable


class CircuitBreaker:
    """``on_change(is_open)`` hears every opening and closing (the Redis breaker's gauge)."""

    def __init__(
        self, failures: int, cooldown_seconds: float, on_change: Callable[[bool], None] | None = None
    ) -> None:
        self.threshold = failures
        self.cooldown = cooldown_seconds
        self.failures = 0
        self.opened_at: float | None = None
        self.on_change = on_change or (lambda is_open: None)
        self.on_change(False)

    @property
    def is_open(self) -> bool:
        """True while calls should be skipped; after the cool-down one call is let through to probe."""
        if self.opened_at is None:
            return False
        if time.monotonic() - self.opened_at >= self.cooldown:
            self._close()  # half-open: the next result decides
            self.failures = self.threshold - 1
            return False
        return True

    def success(self) -> None:
        self.failures = 0
        if self.opened_at is not None:
            self._close()

    def failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            if self.opened_at is None:
                self.on_change(True)
            self.opened_at = time.monotonic()

    def _close(self) -> None:
        self.opened_at = None
        self.on_change(False)
