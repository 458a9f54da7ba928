"""The live processes of some process groups: each service of a stack runs in a group of its own, so a
group is a service with every worker it started."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from pathlib import Path


def members(pgids: Collection[int]) -> Iterator[tuple[int, int]]:
    """(pid, process group) of every live process in one of ``pgids``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            pgid = os.getpgid(int(entry.name))
        except ProcessLookupError:
            continue  # gone meanwhile
        if pgid in pgids:
            yield int(entry.name), pgid
