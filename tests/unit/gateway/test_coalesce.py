"""gateway.coalesce on its own event loop: who waits for which call, and what a waiter gets when the
call fails or the request that started it is cancelled (the integration tests drive it over HTTP)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.coalesce import Coalescer, Outcome
from gateway.errors import ApiError


async def turns() -> None:
    """Let every task started so far run up to its next wait."""
    for _ in range(5):
        await asyncio.sleep(0)


class Model:
    """Answers each call after ``release`` is set, recording which keys each call asked for."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []
        self.release = asyncio.Event()
        self.failure: Exception | None = None

    async def ask(self, keys: list[str]) -> dict[str, Outcome]:
        self.asked.append(keys)
        await self.release.wait()
        if self.failure is not None:
            raise self.failure
        return {key: {"answer": key} for key in keys}


def test_keys_in_flight_are_joined_and_the_rest_asked_in_one_new_call() -> None:
    async def scenario() -> None:
        coalescer, model = Coalescer(), Model()
        first = asyncio.create_task(coalescer.ask(["a"], model.ask))
        await turns()
        second = asyncio.create_task(coalescer.ask(["a", "b", "c", "b"], model.ask))
        await turns()
        assert model.asked == [["a"], ["b", "c"]]
        assert coalescer.in_flight("a")
        assert coalescer.in_flight("c")
        model.release.set()
        assert (await first)["a"] == ({"answer": "a"}, False)
        answers = await second
        assert answers["a"] == ({"answer": "a"}, True)
        assert answers["b"] == ({"answer": "b"}, False)
        assert not coalescer.in_flight("a")
        assert not coalescer.in_flight("b")

    asyncio.run(scenario())


def test_a_failed_call_raises_the_same_error_in_every_waiter_and_is_not_kept() -> None:
    async def scenario() -> None:
        coalescer, model = Coalescer(), Model()
        model.failure = ApiError(503, "model_unavailable", "down")
        waiters = [asyncio.create_task(coalescer.ask(["a"], model.ask)) for _ in range(3)]
        await turns()
        model.release.set()
        for waiter in waiters:
            with pytest.raises(ApiError) as raised:
                await waiter
            assert (raised.value.status, raised.value.code) == (503, "model_unavailable")
        assert len(model.asked) == 1
        assert not coalescer.in_flight("a")

    asyncio.run(scenario())


def test_cancelling_the_request_that_started_a_call_leaves_the_call_to_its_waiters() -> None:
    async def scenario() -> None:
        coalescer, model = Coalescer(), Model()
        leader = asyncio.create_task(coalescer.ask(["a"], model.ask))
        await turns()
        waiter = asyncio.create_task(coalescer.ask(["a"], model.ask))
        await turns()
        leader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leader
        model.release.set()
        assert (await asyncio.wait_for(waiter, 5))["a"] == ({"answer": "a"}, True)
        assert len(model.asked) == 1

    asyncio.run(scenario())


def test_a_call_whose_every_waiter_left_still_finishes_and_its_failure_is_not_left_unretrieved() -> None:
    async def scenario() -> list[dict[str, object]]:
        unhandled: list[dict[str, object]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _, context: unhandled.append(context))
        coalescer, model = Coalescer(), Model()
        model.failure = ApiError(503, "model_unavailable", "down")
        leader = asyncio.create_task(coalescer.ask(["a"], model.ask))
        await turns()
        leader.cancel()
        model.release.set()
        await asyncio.sleep(0.01)
        assert not coalescer.in_flight("a")
        return unhandled

    assert asyncio.run(scenario()) == []
