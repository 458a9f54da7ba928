"""Model names, versions and archive file names, checked before they reach a file path or a URL.

The rule is torch-model-archiver's for model names (``^[A-Za-z0-9][A-Za-z0-9_\\-.]*$``): no slash, no
leading dot, nothing a URL or a path would read as structure. Every management-API path is built from
quoted segments all the same, so that a name that slipped past a check still cannot change the path.
"""

from __future__ import annotations

import re
from urllib.parse import quote

NAME_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-.]*")
ARCHIVE_SUFFIX = ".mar"


def checked_name(text: str, what: str = "name") -> str:
    """``text`` when it follows the rule; else a ValueError that says which rule."""
    if not NAME_RULE.fullmatch(text) or len(text) > 128:
        raise ValueError(
            f"{what} {text!r} is not allowed: letters, digits, '_', '-' and '.', starting with a letter or "
            "digit, at most 128 characters (torch-model-archiver's rule)"
        )
    return text


def checked_archive(text: str) -> str:
    """A ``.mar`` file name in the model store, never a path or a URL."""
    if not text.endswith(ARCHIVE_SUFFIX):
        raise ValueError(f"archive {text!r} is not a {ARCHIVE_SUFFIX} file name")
    checked_name(text.removesuffix(ARCHIVE_SUFFIX), "archive name")
    return text


def path(*segments: str) -> str:
    """A URL path of quoted segments: ``path("models", name, version)`` -> ``/models/<name>/<version>``."""
    return "".join("/" + quote(segment, safe="") for segment in segments)
