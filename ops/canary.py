"""A canary's comparisons, shared by every gateway replica through Redis: which images are shadowed, the
counters each gateway adds to, and the figures `python -m ops.models promote` judges a canary by.

An image is shadowed when its SHA-256 falls inside the share (sticky: the same image always or never),
so a share of 0.1 compares a tenth of the distinct images visitors send, whichever replica they reach.
The counters live under a key of the model, the default and the candidate: a new canary, or a new
default, starts from zero.

Standard library and redis-py only: the gateway imports this module beside ops.replica_status.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

OUTCOMES = ("agree", "disagree", "error", "skipped")
UNKNOWN_OF = {"default": "default_unknown", "candidate": "candidate_unknown"}  # "Not recognised" answers


def shadowed(sha256: str, share: float) -> bool:
    """Whether the image with this hash is compared under a canary of ``share``."""
    return int(sha256[:8], 16) < share * 0x1_0000_0000


def counters_key(model: str, default: str, candidate: str) -> str:
    return f"fromsoft:canary:v1:{model}:{default}:{candidate}"


@dataclass(frozen=True)
class Figures:
    agree: int = 0
    disagree: int = 0
    error: int = 0
    skipped: int = 0
    default_unknown: int = 0  # of the comparisons, how many the default answered "Not recognised"
    candidate_unknown: int = 0

    @classmethod
    def from_hash(cls, raw: dict[bytes, bytes] | dict[str, str]) -> Figures:
        """From the counters' Redis hash (a field never incremented is 0)."""
        counts = {str(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}
        return cls(**{name: counts.get(name, 0) for name in cls.__dataclass_fields__})

    @property
    def comparisons(self) -> int:
        return self.agree + self.disagree

    @property
    def agreement(self) -> float | None:
        return self.agree / self.comparisons if self.comparisons else None

    def unknown_share(self, which: str) -> float | None:
        """The share of compared images that ``which`` (default, candidate) answered "Not recognised"."""
        count = getattr(self, UNKNOWN_OF[which])
        return count / self.comparisons if self.comparisons else None

    def view(self) -> dict[str, float | int | None]:
        return {
            "comparisons": self.comparisons,
            "agreement": self.agreement,
            "errors": self.error,
            "skipped": self.skipped,
            "default_unknown_share": self.unknown_share("default"),
            "candidate_unknown_share": self.unknown_share("candidate"),
        }


def redis_address(url: str, password_file: Path | None) -> str:
    """``url`` with the password read from ``password_file`` (REDIS_PASSWORD_FILE): the password is never
    on a command line, nor in a URL an operator types."""
    if password_file is None:
        return url
    password = quote(password_file.read_text().strip(), safe="")
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f":{password}@{parts.netloc.rsplit('@', 1)[-1]}"))
