"""``--sort-into DIR``: a copy of each classified image in ``DIR/<label>/`` (``unknown`` for "Not
recognised"). Copies only: the source folders are never written to, and the CLI refuses a DIR inside
one of them (its copies would be walked as sources the next run).

The label and the hash come from the server, or from a CSV a resumed run reads, and both go into a path:
only a label of the shared table (inference.labels) or ``unknown`` and a hex SHA-256 are taken, and the
copy's resolved path must lie inside DIR (a folder or file there may be a link to elsewhere). Anything
else is refused for that file, before anything is written."""

from __future__ import annotations

import filecmp
import re
import shutil
from pathlib import Path

from inference.labels import LABELS, UNKNOWN_LABEL

FOLDERS = frozenset((*LABELS, UNKNOWN_LABEL))
SHA256 = re.compile(r"[0-9a-f]{64}")


class SortRefusedError(ValueError):
    """A copy that would not land in its game's folder inside DIR; the message says why."""


def inside_any(folder: Path, sources: list[Path]) -> Path | None:
    """The source ``folder`` lies in, if any."""
    folder = folder.resolve()
    return next(
        (s.resolve() for s in sources if s.resolve().is_dir() and folder.is_relative_to(s.resolve())), None
    )


def sort_into(root: Path, source: Path, label: str, sha256: str) -> Path:
    """Copy ``source`` into ``root/label/``; a different file of the same name already there keeps its
    name and this copy gets the image's short hash in its own. A copy made before is left as it is."""
    if label not in FOLDERS:
        raise SortRefusedError(f"label {label!r} is not a known game ({', '.join(sorted(FOLDERS))})")
    if SHA256.fullmatch(sha256) is None:
        raise SortRefusedError(f"sha256 {sha256!r} is not 64 hex digits")
    folder = root / label
    folder.mkdir(parents=True, exist_ok=True)
    inside(root, folder)
    target = folder / source.name
    if target.exists() and not filecmp.cmp(source, target, shallow=False):
        target = folder / f"{source.stem}-{sha256[:12]}{source.suffix}"
    inside(root, target)
    if not target.exists():
        shutil.copy2(source, target)
    return target


def inside(root: Path, target: Path) -> None:
    """Refuse ``target`` unless, links followed, it lies inside ``root``."""
    if not target.resolve().is_relative_to(root.resolve()):
        raise SortRefusedError(f"{target} leads to {target.resolve()}, outside {root}")
