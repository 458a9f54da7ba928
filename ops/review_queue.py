"""The review queue as ``python -m ops.feedback list`` shows it: a table a moderator reads in a terminal,
or JSON for a script. Each image: the first digits of its SHA-256 (what the other commands take), the
prediction visitors judged (model, version, label, confidence), their votes by verdict, the games they
named, and whether its screenshot was shared (only those can be exported for training).

Order and groups are store.review.queue's: contested images first (a wrong answer, or visitors who
disagree), near-duplicates right under the first of their group, marked ``~``.
"""

from __future__ import annotations

from typing import Any

from store.review import QueueEntry

SHOWN_DIGITS = 12  # unique in far more images than a queue holds; the commands take 8 or more
CONTESTED, NEAR_DUPLICATE = "!", "~"


def as_json(entries: list[QueueEntry]) -> dict[str, Any]:
    return {
        "queue": [
            {
                "sha256": e.sha256,
                "group": e.group,
                "contested": e.contested,
                "judged": {"model": e.model, "version": e.version, "label": e.predicted},
                "confidence": e.confidence,
                "verdicts": e.verdicts,
                "labels": e.labels,
                "shared": e.shared,
                "perceptual_hash": e.perceptual_hash,
                "first_vote": e.first_vote.isoformat(),
            }
            for e in entries
        ]
    }


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def table(entries: list[QueueEntry]) -> list[str]:
    """One line per image under a header; columns as wide as their widest cell."""
    rows = [("", "SHA256", "JUDGED", "VOTES", "NAMED", "IMAGE")]
    for e in entries:
        mark = (CONTESTED if e.contested else " ") + (NEAR_DUPLICATE if e.group != e.sha256 else " ")
        judged = f"{e.model} {e.version}: {e.predicted} {e.confidence:.0%}"
        shared = "shared" if e.shared else "-"
        rows.append(
            (mark, e.sha256[:SHOWN_DIGITS], judged, _counts(e.verdicts), _counts(e.labels) or "-", shared)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def summary(entries: list[QueueEntry]) -> str:
    contested = sum(e.contested for e in entries)
    near = sum(e.group != e.sha256 for e in entries)
    shared = sum(e.shared for e in entries)
    return (
        f"feedback: {len(entries)} pending, {contested} contested ({CONTESTED}), {near} near-duplicate(s) "
        f"({NEAR_DUPLICATE}, under the image they resemble); {shared} with a shared screenshot"
    )
