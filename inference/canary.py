"""A canary's comparisons, shared by every gateway replica through Redis: which images are shadowed, the
counters each gateway adds to, and the figures and thresholds `python -m ops.models promote` judges a
canary by.

An image is shadowed when a keyed hash of its SHA-256 falls inside the share: HMAC-SHA256 under a secret
every replica reads from Redis (``SECRET_KEY``; the first gateway that needs it makes it). The same image
is always in or always out, whichever replica it reaches, and a share of 0.1 compares a tenth of the
distinct images visitors send; but no client can tell from an image's bytes whether it is compared,
so none can steer the sample by changing a byte (the bare SHA-256 decided it before). The counters live
under a key of the model, the default and the candidate: a new canary, or a new default, starts from
zero.

A wire contract (the gateway writes the counters, ``ops.models`` reads them), so it lives in inference/
beside the replica's report: standard library only.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

UNKNOWN_OF = {"default": "default_unknown", "candidate": "candidate_unknown"}  # "Not recognised" answers
# The sample's secret: random, made once with SET NX by whichever gateway reads it first, and read again
# every few seconds, so that replicas agree again soon after Redis lost it (a restart, a flush). Whoever
# can read it can write the counters too, so it asks for no more trust than they do.
SECRET_KEY = "fromsoft:canary:v1:sample-secret"
SECRET_BYTES = 32  # random, stored as hex: its text is the HMAC key


@dataclass(frozen=True)
class Promotion:
    """What `python -m ops.models promote` asks of a canary's figures (its flags override each)."""

    min_comparisons: int  # of the images shadowed, compared by top-1 label
    min_agreement: float  # the share of comparisons on which both named the same game
    max_error_share: float  # of the shadow calls, the share the canary failed to answer


# 100 comparisons at 95% agreement: 30 let a handful of images, or one client's, decide; each client
# feeds at most CANARY_CLIENT_LIMIT comparisons (10 an hour by default), so 100 need ten client-hours.
PROMOTION = Promotion(min_comparisons=100, min_agreement=0.95, max_error_share=0.02)

# A canary retrained on reviewed screenshots (ops.reviewed) is judged on its card's figures instead of its
# agreement: its base test split macro-F1 may be at most this far under the default's. The base split is
# the frames the default learned (synthetic for the demo), where a head weighted towards real screenshots
# loses a little; more says it forgot games it knew.
REVIEWED_MAX_TEST_DROP = 0.02


def shadowed(secret: bytes, sha256: str, share: float) -> bool:
    """Whether the image with this hash is compared under a canary of ``share``, with the sample's
    ``secret`` (the whole share needs none)."""
    if share >= 1:
        return True
    keyed = hmac.new(secret, sha256.encode(), hashlib.sha256).digest()
    return int.from_bytes(keyed[:8], "big") < share * 2**64


def counters_key(model: str, default: str, candidate: str) -> str:
    return f"fromsoft:canary:v1:{model}:{default}:{candidate}"


@dataclass(frozen=True)
class Figures:
    agree: int = 0
    disagree: int = 0
    error: int = 0
    skipped: int = 0  # not made: the gateway was busy, or the client's images had fed its budget
    default_unknown: int = 0  # of the comparisons, how many the default answered "Not recognised"
    candidate_unknown: int = 0

    @classmethod
    def from_hash(cls, raw: Mapping[Any, bytes | str]) -> Figures:
        """From the counters' Redis hash (a field never incremented is 0)."""
        counts = {str(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}
        return cls(**{name: counts.get(name, 0) for name in cls.__dataclass_fields__})

    @property
    def comparisons(self) -> int:
        return self.agree + self.disagree

    @property
    def error_share(self) -> float | None:
        """Of the shadow calls made, the share the canary did not answer."""
        calls = self.comparisons + self.error
        return self.error / calls if calls else None

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
