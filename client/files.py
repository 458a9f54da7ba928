"""What the CLI finds under the paths it is given: every file, walked in a stable order, and whether it
can be sent (a JPEG, PNG or WebP by its bytes, within the server's size limit) or why not. Reading the
first bytes decides, as the gateway decides; a file's name never does."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from inference.formats import CONTENT_TYPES, sniff_format

MAGIC_BYTES = 16  # enough for every signature inference.formats knows
PART_BYTES = 512  # a multipart part's boundary and headers, its file name included


@dataclass(frozen=True)
class Found:
    path: Path  # absolute
    size: int
    content_type: str | None  # None: not to be sent (``problem`` says why)
    problem: str | None = None


def walk(paths: Iterable[Path], leave_out: Iterable[Path] = ()) -> list[Path]:
    """Every file under ``paths`` (a file given is itself), absolute, sorted, each once; ``leave_out``:
    files to pass over (the CSV the CLI writes, when it lies among them). A path that does not exist is
    returned as it is: ``inspect`` reports it."""
    skipped = {p.resolve() for p in leave_out}
    found: set[Path] = set()
    for path in paths:
        path = path.resolve()
        if path.is_dir():
            found.update(Path(root, name) for root, _, names in os.walk(path) for name in names)
        else:
            found.add(path)
    return sorted(found - skipped)


def inspect(path: Path, max_bytes: int) -> Found:
    """Whether ``path`` can be sent, judged by its first bytes and its size."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            fmt = sniff_format(f.read(MAGIC_BYTES))
    except OSError as exc:
        return Found(path, 0, None, f"unreadable: {exc.strerror or exc}")
    if fmt is None:
        return Found(path, size, None, "not a JPEG, PNG or WebP image")
    if size > max_bytes:
        return Found(path, size, None, f"{size} bytes: over the server's limit of {max_bytes}")
    return Found(path, size, CONTENT_TYPES[fmt])


def batches(found: list[Found], max_files: int, max_bytes: int) -> list[list[Found]]:
    """``found`` in order, cut into batches the server takes: at most ``max_files`` files and
    ``max_bytes`` of body, counting ``PART_BYTES`` of multipart framing per file."""
    cut: list[list[Found]] = []
    size = 0
    for item in found:
        weight = item.size + PART_BYTES
        if not cut or len(cut[-1]) == max_files or size + weight > max_bytes:
            cut.append([])
            size = 0
        cut[-1].append(item)
        size += weight
    return cut
