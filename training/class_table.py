"""The per-class table every training report prints (evaluate's report, an outside set's section, the
model card): one Markdown row per game, in the labels' order, from figures keyed by label."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from inference.labels import DISPLAY_NAMES, LABELS


def class_table(
    per_class: Mapping[str, Mapping[str, Any]],
    heading: str = "class",
    support: str = "support",
    extra: Sequence[tuple[str, str]] = (),
) -> list[str]:
    """Precision, recall, F1 (key ``f1``) and support per game, then ``extra`` columns (title, key)."""
    titles = [heading, "precision", "recall", "F1", support, *(title for title, _ in extra)]
    lines = ["| " + " | ".join(titles) + " |", "|" + " --- |" * len(titles)]
    for label in LABELS:
        c = per_class[label]
        cells = [
            DISPLAY_NAMES[label],
            f"{c['precision']:.3f}",
            f"{c['recall']:.3f}",
            f"{c['f1']:.3f}",
            str(int(c["support"])),
            *(str(c[key]) for _, key in extra),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines
