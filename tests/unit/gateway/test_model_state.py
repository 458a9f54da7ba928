"""The model-state refresher keeps going whatever a refresh raises: a dead refresher would freeze the
default version (and with it the cache keys) until the worker restarts."""

import asyncio
import logging
from typing import Any

import pytest

from gateway.model_state import ModelState


class FlakyTorchServe:
    """Answers like TorchServe's management API, after failing its first calls in a way TorchServe
    cannot be made to: an answer of an unexpected shape, then a bug's exception."""

    def __init__(self) -> None:
        self.calls = 0

    async def describe(self, model: str, customized: bool = False) -> list[dict[str, Any]]:
        self.calls += 1
        if self.calls == 1:
            return [{"no modelVersion": True}]  # KeyError inside refresh
        if self.calls == 2:
            raise RuntimeError("something nobody expected")
        if customized:
            return [{"customizedMetadata": '{"preprocessing_version": "abc", "labels": []}'}]
        return [{"modelVersion": "2.0", "workers": [{"id": "9000", "status": "READY"}]}]

    async def describe_all(self, model: str) -> list[dict[str, Any]]:
        return [{"modelVersion": "2.0", "workers": [{"id": "9000", "status": "READY"}]}]


def test_the_refresher_logs_any_exception_and_tries_again(caplog: pytest.LogCaptureFixture):
    async def scenario() -> ModelState:
        state = ModelState(FlakyTorchServe(), "fromsoft", refresh_seconds=0.01)  # type: ignore[arg-type]
        refresher = asyncio.create_task(state.run())
        for _ in range(200):
            await asyncio.sleep(0.01)
            if state.ready:
                break
        refresher.cancel()
        return state

    with caplog.at_level(logging.ERROR, logger="gateway.model_state"):
        state = asyncio.run(scenario())
    assert state.ready
    assert state.default_version == "2.0"
    assert state.preprocessing_version == "abc"
    assert state.view()["models"][0]["versions"] == [
        {"version": "2.0", "default": True, "workers": [{"id": "9000", "status": "READY"}]}
    ]
    assert len([r for r in caplog.records if "refresh failed" in r.message]) == 2
