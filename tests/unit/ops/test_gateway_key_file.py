"""The gateway's key file (ops.torchserve_keys.write_gateway_keys) is its owner's alone from the moment
it exists, whatever the umask, and two writers at once each keep their own temporary file. A Python audit
hook looks at the folder at every chmod and rename the writer makes, so the moments between creating a
file and renaming it are seen deterministically, and a second writer is run inside the first one's
rename."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ops.torchserve_keys import write_gateway_keys

Watcher = Callable[[str, tuple[Any, ...]], None]
_watchers: list[Watcher] = []
_installed = False


def _hook(event: str, args: tuple[Any, ...]) -> None:
    for watcher in list(_watchers):
        watcher(event, args)


@pytest.fixture
def audit() -> Iterator[list[Watcher]]:
    """Watchers called at every audit event while the test runs (an audit hook cannot be removed, so
    one is installed for the session and does nothing outside these tests)."""
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True
    try:
        yield _watchers
    finally:
        _watchers.clear()


def keys(key: str) -> dict[str, Any]:
    return {
        "inference": {"key": key, "expiration time": "2030-01-01T00:00:00Z"},
        "management": {"key": "never for the gateway", "expiration time": "2030-01-01T00:00:00Z"},
        "API": {"key": "never for the gateway"},
    }


def test_the_gateway_key_file_is_never_wider_than_0600_even_under_umask_0(tmp_path: Path, audit):
    folder = tmp_path / "unit"
    modes: dict[str, int] = {}

    def look(event: str, args: tuple[Any, ...]) -> None:
        if event in ("os.chmod", "os.rename", "tempfile.mkstemp") and folder.is_dir():
            for path in folder.iterdir():
                modes[path.name] = modes.get(path.name, 0) | (path.stat().st_mode & 0o777)

    old = os.umask(0)
    try:
        audit.append(look)
        assert write_gateway_keys(keys("first"), folder / "gateway-keys.json")
        assert write_gateway_keys(keys("second"), folder / "gateway-keys.json")
    finally:
        os.umask(old)
    assert modes  # the writer was watched while its temporary file existed
    assert {name: mode for name, mode in modes.items() if mode & ~0o600} == {}
    assert (folder / "gateway-keys.json").stat().st_mode & 0o777 == 0o600
    assert "never for the gateway" not in (folder / "gateway-keys.json").read_text()


def test_two_writers_at_once_each_write_their_own_temporary_file(tmp_path: Path, audit):
    """The second writer runs whole inside the first one's rename: with one shared temporary name, it
    would take the first one's file away (and the first one would then fail)."""
    path = tmp_path / "unit" / "gateway-keys.json"
    interleaved = []

    def second_writer(event: str, args: tuple[Any, ...]) -> None:
        if event == "os.rename" and not interleaved:
            interleaved.append(args)
            write_gateway_keys(keys("second"), path)

    audit.append(second_writer)
    write_gateway_keys(keys("first"), path)
    assert interleaved
    assert '"first"' in path.read_text()  # the last rename wins, whole
    assert [p.name for p in path.parent.iterdir()] == ["gateway-keys.json"]  # no temporary file left
