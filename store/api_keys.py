"""Clients' API keys: their shape, how one is made and checked, and what the operator's tool
(``python -m ops.keys``) does with them in the store; the gateway checks keys with the same functions.

A key is ``fsl_<prefix>_<secret>``. ``fsl_`` makes a leaked key recognisable (to a secret scanner, to
whoever reads a log it landed in); the prefix, 8 lowercase base32 characters, is its public id (lists,
metrics, the feedback votes); the secret is 32 random bytes, URL-safe base64. The store keeps the prefix
and an HMAC-SHA256 of the whole key under the stack's pepper (API_KEY_PEPPER_FILE), never the key:
256 random bits cannot be found from their hash, and without the pepper a copy of the database cannot
even check a guessed key. Hashes are compared with ``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.models import KEY_PREFIX_CHARS, ApiKey, utcnow

SCOPES = ("classify", "batch", "url", "feedback")
SCOPE_CLASSIFY, SCOPE_BATCH, SCOPE_URL, SCOPE_FEEDBACK = SCOPES
# A new key's scopes unless the operator names others: fetching URLs (the server reaches out on the
# client's behalf) and writing feedback to the store are granted only when asked for.
DEFAULT_SCOPES = (SCOPE_CLASSIFY, SCOPE_BATCH)
ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # RFC 4648 base32, lower case: no 0/O or 1/l to misread
SECRET_BYTES = 32
KEY = re.compile(rf"fsl_([a-z2-7]{{{KEY_PREFIX_CHARS}}})_([A-Za-z0-9_-]{{43}})")
PREFIX = re.compile(rf"(?:fsl_)?([a-z2-7]{{{KEY_PREFIX_CHARS}}})")  # as an operator types it
RATE = re.compile(r"([1-9][0-9]*)/(second|minute|hour|day)")
PERIOD_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


class UnknownKeyError(LookupError):
    pass


@dataclass(frozen=True)
class KeyLimits:
    """What a key may do: ``rate`` units per period sustained, ``burst`` at once, ``daily`` answered in
    any rolling 24 hours, ``concurrency`` requests in flight, and the routes of its ``scopes``."""

    rate: str
    burst: int
    daily: int
    concurrency: int
    scopes: tuple[str, ...]

    def __post_init__(self) -> None:
        parse_rate(self.rate)
        for name in ("burst", "daily", "concurrency"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if unknown := [scope for scope in self.scopes if scope not in SCOPES]:
            raise ValueError(f"unknown scope {', '.join(unknown)}: scopes are {', '.join(SCOPES)}")

    @classmethod
    def of(cls, row: ApiKey) -> KeyLimits:
        return cls(row.rate, row.burst, row.daily, row.concurrency, parse_scopes(row.scopes))


def parse_rate(text: str) -> tuple[int, int]:
    """``"60/minute"`` as (60, 60): units, and the seconds they are spread over."""
    match = RATE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"rate {text!r}: write it as N/second, N/minute, N/hour or N/day (60/minute)")
    return int(match[1]), PERIOD_SECONDS[match[2]]


def parse_scopes(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))


def public_id(prefix: str) -> str:
    """What lists, logs, metrics and votes show of a key: never its secret."""
    return f"fsl_{prefix}"


def prefix_of(presented: str) -> str | None:
    """The prefix of a key of the right shape, else None."""
    match = KEY.fullmatch(presented)
    return match[1] if match else None


def typed_prefix(text: str) -> str:
    """The prefix an operator names, with or without ``fsl_``."""
    match = PREFIX.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a key's prefix (8 characters of a-z and 2-7, as list shows)")
    return match[1]


def key_hash(pepper: bytes, key: str) -> str:
    return hmac.new(pepper, key.encode("ascii"), hashlib.sha256).hexdigest()


def matches(pepper: bytes, presented: str, stored_hash: str) -> bool:
    """Whether ``presented`` is the key whose hash is ``stored_hash``, in constant time."""
    return hmac.compare_digest(key_hash(pepper, presented), stored_hash)


def read_pepper(path: Path) -> bytes:
    """API_KEY_PEPPER_FILE's secret; an empty file is refused, never a pepper of nothing."""
    pepper = path.read_bytes().strip()
    if not pepper:
        raise ValueError(f"API_KEY_PEPPER_FILE {path} is empty")
    return pepper


def _new_key() -> tuple[str, str]:
    prefix = "".join(secrets.choice(ALPHABET) for _ in range(KEY_PREFIX_CHARS))
    return prefix, f"fsl_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"


def active(row: ApiKey, now: datetime | None = None) -> bool:
    return row.revoked_at is None or row.revoked_at > (now or utcnow())


def create(
    session: Session,
    name: str,
    limits: KeyLimits,
    pepper: bytes,
    now: datetime | None = None,
    rotated_from: str | None = None,
) -> tuple[ApiKey, str]:
    """A new key's row, and the key itself: shown once, kept nowhere. A prefix already taken (one chance
    in about 10^12 per key) is drawn again."""
    for _ in range(5):
        prefix, key = _new_key()
        row = ApiKey(
            prefix=prefix,
            secret_hash=key_hash(pepper, key),
            name=name,
            rate=limits.rate,
            burst=limits.burst,
            daily=limits.daily,
            concurrency=limits.concurrency,
            scopes=",".join(limits.scopes),
            created_at=now or utcnow(),
            rotated_from=rotated_from,
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            continue
        return row, key
    raise RuntimeError("five prefixes drawn in a row were taken: is the random source broken?")


def find(session: Session, prefix: str) -> ApiKey | None:
    return session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).one_or_none()


def listed(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))


def _known(session: Session, prefix: str) -> ApiKey:
    row = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix).with_for_update()).one_or_none()
    if row is None:
        raise UnknownKeyError(f"no key {public_id(prefix)}")
    return row


def revoke(session: Session, prefix: str, now: datetime | None = None) -> ApiKey:
    """The key stops working now (a rotation's grace is cut short too); revoking twice changes nothing."""
    row = _known(session, prefix)
    now = now or utcnow()
    if active(row, now):
        row.revoked_at = now
    return row


def rotate(
    session: Session, prefix: str, pepper: bytes, grace: timedelta, now: datetime | None = None
) -> tuple[ApiKey, str]:
    """A new key with the old one's name, limits and scopes; the old one works for ``grace`` more (zero:
    it stops now), so that a client can switch without a gap. A revoked key is not rotated."""
    now = now or utcnow()
    old = _known(session, prefix)
    if not active(old, now):
        raise UnknownKeyError(f"{public_id(prefix)} is revoked: create a new key instead")
    row, key = create(session, old.name, KeyLimits.of(old), pepper, now, rotated_from=old.prefix)
    old.revoked_at = now + grace
    return row, key
