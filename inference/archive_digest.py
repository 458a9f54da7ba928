"""An archive's content digest: a short SHA-256 over the files a model archive carries, the same whether
it is read from the ``.mar`` (the operator's tools, before registering it) or from the folder TorchServe
unpacked it into (the handler, which puts it in every answer). TorchServe's own ``MAR-INF/`` (the
manifest, with its creation time and version) and the ``__pycache__`` that Python writes beside the
handler's modules are left out: two archives with the same files answer the same, so they share a
digest, and a re-exported model never shares one with the model it replaced."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

DIGEST_LENGTH = 12  # hex digits: enough to tell archives apart, short enough to read in an answer
_CHUNK = 1 << 20


def _counted(name: str) -> bool:
    parts = name.split("/")
    return parts[0] != "MAR-INF" and "__pycache__" not in parts and not name.endswith(".pyc")


def content_digest(entries: Iterable[tuple[str, Iterator[bytes]]]) -> str:
    """``entries``: (path inside the archive with ``/``, its bytes in chunks), in any order."""
    files = sorted((name, chunks) for name, chunks in entries if _counted(name))
    digest = hashlib.sha256()
    for name, chunks in files:
        file_digest = hashlib.sha256()
        for chunk in chunks:
            file_digest.update(chunk)
        digest.update(f"{name}\0{file_digest.hexdigest()}\n".encode())
    return digest.hexdigest()[:DIGEST_LENGTH]


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


def _member_chunks(archive: zipfile.ZipFile, name: str) -> Iterator[bytes]:
    with archive.open(name) as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


def digest_of_folder(folder: Path) -> str:
    """The digest of an unpacked archive (the handler's ``model_dir``)."""
    files = (p for p in folder.rglob("*") if p.is_file())
    return content_digest((p.relative_to(folder).as_posix(), _file_chunks(p)) for p in files)


def digest_of_archive(path: Path | BinaryIO) -> str:
    """The digest of a ``.mar`` file (or one open for reading), read without unpacking it."""
    with zipfile.ZipFile(path) as archive:
        names = [info.filename for info in archive.infolist() if not info.is_dir()]
        return content_digest((name, _member_chunks(archive, name)) for name in names)
