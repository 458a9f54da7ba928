"""The seven games: canonical labels, display names and the folder-name aliases that map to them.

Every part of the stack (training, the handler, the gateway, the front end) uses these labels; the
order of ``LABELS`` is the order of the model's outputs.
"""

from __future__ import annotations

import re

LABELS: tuple[str, ...] = (
    "bloodborne",
    "dark_souls",
    "dark_souls_2",
    "dark_souls_3",
    "demons_souls",
    "elden_ring",
    "sekiro",
)

DISPLAY_NAMES: dict[str, str] = {
    "bloodborne": "Bloodborne",
    "dark_souls": "Dark Souls",
    "dark_souls_2": "Dark Souls II",
    "dark_souls_3": "Dark Souls III",
    "demons_souls": "Demon's Souls",
    "elden_ring": "Elden Ring",
    "sekiro": "Sekiro: Shadows Die Twice",
}

UNKNOWN_LABEL = "unknown"
UNKNOWN_NAME = "Not recognised"

# Kaggle folder names (``FromSoftwareImages/<name>``) and common spellings users give their folders.
_ALIASES: dict[str, str] = {
    "bloodborne": "bloodborne",
    "darksouls": "dark_souls",
    "darksouls1": "dark_souls",
    "darksoulsremastered": "dark_souls",
    "darksouls2": "dark_souls_2",
    "darksoulsii": "dark_souls_2",
    "darksouls3": "dark_souls_3",
    "darksoulsiii": "dark_souls_3",
    "demonssouls": "demons_souls",
    "demonsouls": "demons_souls",
    "eldenring": "elden_ring",
    "sekiro": "sekiro",
    "sekiroshadowsdietwice": "sekiro",
}


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def canonical_label(folder_name: str) -> str | None:
    """Map a folder name such as ``"dark souls 2"`` or ``"Demon's Souls"`` to its label, or None."""
    return _ALIASES.get(_squash(folder_name))


def index_to_name() -> dict[str, list[str]]:
    """TorchServe's ``index_to_name.json`` form: output index -> [label, display name]."""
    return {str(i): [label, DISPLAY_NAMES[label]] for i, label in enumerate(LABELS)}
