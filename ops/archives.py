"""What an archive in the model store says about itself, read without unpacking or loading it: the model
name and version in its manifest, its batching, and its content digest (inference.archive_digest).
Digests are kept per (size, modification time), so that a reconciler reading the store every few
seconds hashes each archive once."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

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


_seen: dict[tuple[Path, int, int], ArchiveInfo] = {}


def inspect(path: Path) -> ArchiveInfo:
    """``path``'s model name, version and content digest."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise ArchiveError(f"{path.name} is not in the model store") from exc
    key = (path.resolve(), stat.st_size, stat.st_mtime_ns)
    if (known := _seen.get(key)) is not None:
        return known
    try:
        with zipfile.ZipFile(path) as archive:
            model = json.loads(archive.read(MANIFEST))["model"]
            config = yaml.safe_load(archive.read(model["configFile"])) if model.get("configFile") else {}
        info = ArchiveInfo(
            str(model["modelName"]),
            str(model["modelVersion"]),
            digest_of_archive(path),
            int(config.get("batchSize", 1)),
            int(config.get("maxBatchDelay", 100)),
            int(config.get("responseTimeout", 120)),
        )
    except (OSError, zipfile.BadZipFile, KeyError, ValueError, yaml.YAMLError) as exc:
        raise ArchiveError(f"{path.name} is not a readable model archive: {exc}") from exc
    _seen[key] = info
    return info
