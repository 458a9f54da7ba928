"""``--sort-into DIR``: a copy of each classified image in ``DIR/<label>/`` (``unknown`` for "Not
recognised"). Copies only: the source folders are never written to, and the CLI refuses a DIR inside
one of them (its copies would be walked as sources the next run)."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path


def inside_any(folder: Path, sources: list[Path]) -> Path | None:
    """The source ``folder`` lies in, if any."""
    folder = folder.resolve()
    return next(
        (s.resolve() for s in sources if s.resolve().is_dir() and folder.is_relative_to(s.resolve())), None
    )


def sort_into(root: Path, source: Path, label: str, sha256: str) -> Path:
    """Copy ``source`` into ``root/label/``; a different file of the same name already there keeps its
    name and this copy gets the image's short hash in its own. A copy made before is left as it is."""
    folder = root / label
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    if target.exists() and not filecmp.cmp(source, target, shallow=False):
        target = folder / f"{source.stem}-{sha256[:12]}{source.suffix}"
    if not target.exists():
        shutil.copy2(source, target)
    return target
