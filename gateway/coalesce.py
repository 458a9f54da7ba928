"""Repeats in flight served once: an image asked for while this worker's model call for it is still at
TorchServe waits for that call's answer instead of sending its own. The cache cannot serve such a
repeat: the answer is not in it until the call returns. With 30% repeats under concurrency, a plain
FastAPI app that calls the model every time gained on us exactly there (BENCHMARKS.md, 30% repeats).

Calls are keyed by the answer's cache key (gateway.cache.cache_key), so a single classification and a
batch's file wait for each other. Each call runs as a task of its own that every request, the one that
started it included, awaits through ``asyncio.shield``: a client that goes away cancels its own wait,
never the call the others wait on. A call's failure reaches each of its waiters as it reached the first.

Per worker process only: a repeat reaching another worker or replica asks the model itself, as a repeat
within the cache's write-behind milliseconds does (docs/performance-log.md says why Redis does not
coordinate this).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any, NamedTuple

from gateway.errors import ApiError
from gateway.metrics import COALESCED
from inference.answers import Refusal

# What a call gives each of its keys: the answer (as gateway.use_cases.classified makes it), the
# refusal of that image by a single request (with its status), or by a multi-image request (without).
Outcome = dict[str, Any] | ApiError | Refusal
Ask = Callable[[list[str]], Coroutine[Any, Any, dict[str, Outcome]]]  # one model call for these keys


class Shared(NamedTuple):
    outcome: Outcome
    joined: bool  # answered by another request's call: this request made none of its own


class Coalescer:
    """This worker's model calls in flight, by the cache key of each answer they will give."""

    def __init__(self) -> None:
        self._calls: dict[str, asyncio.Task[dict[str, Outcome]]] = {}

    def in_flight(self, key: str) -> bool:
        return key in self._calls

    async def ask(self, keys: list[str], ask: Ask) -> dict[str, Shared]:
        """Each key's outcome: from the call in flight for it, or from one new call ``ask`` makes for all
        the keys none is in flight for. A call that fails as a whole raises here, in every waiter."""
        found = {key: self._calls.get(key) for key in dict.fromkeys(keys)}
        calls = {key: call for key, call in found.items() if call is not None}
        joined = set(calls)
        if new := [key for key in found if key not in joined]:
            task = asyncio.create_task(ask(new))
            self._calls.update(dict.fromkeys(new, task))
            task.add_done_callback(partial(self._forget, new))
            calls.update(dict.fromkeys(new, task))
        if joined:
            COALESCED.inc(len(joined))
        tasks = list(dict.fromkeys(calls.values()))
        # shield: a waiter cancelled (its client gone) stops waiting; the call goes on for the others.
        results = dict(zip(tasks, await asyncio.gather(*map(asyncio.shield, tasks)), strict=True))
        return {key: Shared(results[call][key], key in joined) for key, call in calls.items()}

    def _forget(self, keys: list[str], task: asyncio.Task[dict[str, Outcome]]) -> None:
        """Done: the next request for these keys finds the answer cached, or asks again after a failure.
        The failure counts as seen even when every waiter has left (the upstream client logged it)."""
        if not task.cancelled():
            task.exception()
        for key in keys:
            if self._calls.get(key) is task:
                del self._calls[key]
