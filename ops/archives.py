"""What an archive in the model store says about itself, read without unpacking or loading it: the model
name and version in its manifest, its batching, and its content digest (inference.archive_digest).

What was read is kept per file by the SHA-256 of the file's bytes, so that a reconciler reading the store
every few seconds unpacks and digests an archive only when its bytes change, however they change: kept
by size and modification time instead, an archive replaced by one of the same size, its modification
time put back (``touch -r``), went unseen, and the digest pinned for it was checked against the old one.
That hash is the price, once per declared archive per reconcile cycle (RECONCILE_SECONDS, 2 s): for the
demo archive (a 25 MB stand-in of its make-up) 51 ms of one core at best and 66 ms median, measured on
the 2-core VM while other jobs loaded it (benchmarks/studies/archive_inspection.py; a first look, which
also unzips and digests, 0.5 s). The file is hashed and read through one open handle, so a rename over it
between the two is not mistaken for it."""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import yaml

from inference.archive_digest import digest_of_archive

MANIFEST = "MAR-INF/MANIFEST.json"


@dataclass(frozen=True)
class ArchiveInfo:
    name: str
    version: str
    digest: str
    # from its model config (TorchServe's defaults where it has none)
    batch_size: int = 1
    max_batch_delay: int = 100
    response_timeout: int = 120


class ArchiveError(ValueError):
    """Not a model archive we can read."""


_seen: dict[Path, tuple[str, ArchiveInfo]] = {}  # path -> (its bytes' SHA-256, what they say)


def inspect(path: Path) -> ArchiveInfo:
    """``path``'s model name, version and content digest."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ArchiveError(f"{path.name} is not in the model store") from exc
    with handle:
        fingerprint = hashlib.file_digest(handle, "sha256").hexdigest()
        known = _seen.get(path.resolve())
        if known is not None and known[0] == fingerprint:
            return known[1]
        handle.seek(0)
        try:
            info = _read(handle)
        except (OSError, zipfile.BadZipFile, KeyError, ValueError, yaml.YAMLError) as exc:
            raise ArchiveError(f"{path.name} is not a readable model archive: {exc}") from exc
    _seen[path.resolve()] = (fingerprint, info)
    return info


def _read(handle: BinaryIO) -> ArchiveInfo:
    with zipfile.ZipFile(handle) as archive:
        model = json.loads(archive.read(MANIFEST))["model"]
        config = yaml.safe_load(archive.read(model["configFile"])) if model.get("configFile") else {}
    return ArchiveInfo(
        str(model["modelName"]),
        str(model["modelVersion"]),
        digest_of_archive(handle),
        int(config.get("batchSize", 1)),
        int(config.get("maxBatchDelay", 100)),
        int(config.get("responseTimeout", 120)),
    )
