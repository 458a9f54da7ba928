"""Files that other processes read while they change (the declared state, a replica's report, the
gateway's key), replaced whole: the text goes to a temporary file of a unique name beside the file,
created by ``tempfile.mkstemp`` (``O_CREAT | O_EXCL``, mode 0600 whatever the umask), is given its final
mode, then renamed over the file. A reader never sees half a file; a file meant for its owner alone is
never readable by anyone else, not for an instant; two writers at once each write their own temporary
file, and the last rename wins whole."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def replace_whole(path: Path, text: str, mode: int, durable: bool = False) -> None:
    """Replace ``path`` with ``text`` in one rename, at ``mode``; ``durable``: on disk (fsync) before."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
            if durable:
                out.flush()
                os.fsync(out.fileno())
            os.fchmod(out.fileno(), mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
