"""The tables, as SQLAlchemy 2 typed models. Alembic's migrations (store/migrations) create them; a test
holds the two to the same schema (``python -m store check``).

Times are stored in UTC: SQLite keeps no time zone, so ``UtcDateTime`` gives every loaded time back as
aware UTC and a comparison never mixes naive and aware datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

SHA256_HEX = 64
DHASH_HEX = 16  # a 64-bit difference hash (store.perceptual)
VERDICTS = ("right", "wrong", "not_a_game")
REVIEW_STATES = ("pending", "accepted", "fixed", "rejected")
DECIDED = ("accepted", "fixed")  # a moderator kept the image for training
KEY_PREFIX_CHARS = 8  # an API key's public id (store.api_keys)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime in, an aware UTC datetime out, on every database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("store times must be aware (UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Constraint names fixed by convention, so that a migration can name what it alters on both databases.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Prediction(Base):
    """What a visitor judged: the model's answer for an image, by the version and archive that gave it."""

    __tablename__ = "predictions"
    __table_args__ = (UniqueConstraint("sha256", "model", "version", "digest", name="uq_predictions_answer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(SHA256_HEX), index=True)
    perceptual_hash: Mapped[str | None] = mapped_column(String(DHASH_HEX))  # known once an image is shared
    model: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(128))  # the archive's content digest
    label: Mapped[str] = mapped_column(String(64))  # a game's label, or "unknown"
    confidence: Mapped[float] = mapped_column(Float)
    top_k: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Vote(Base):
    """One visitor's verdict on one image: a repeat from the same client updates it. ``client`` is a keyed
    hash of the visitor's rate-limit bucket, never an address."""

    __tablename__ = "votes"
    __table_args__ = (
        UniqueConstraint("sha256", "client", name="uq_votes_sha256_client"),
        CheckConstraint(f"verdict IN {VERDICTS}", name="verdict"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(SHA256_HEX), index=True)
    client: Mapped[str] = mapped_column(String(SHA256_HEX))
    prediction_id: Mapped[int] = mapped_column(ForeignKey("predictions.id", ondelete="CASCADE"), index=True)
    verdict: Mapped[str] = mapped_column(String(16))  # one of VERDICTS
    label: Mapped[str | None] = mapped_column(String(64))  # the game the visitor says it is
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    prediction: Mapped[Prediction] = relationship()


class SharedImage(Base):
    """A screenshot its visitor agreed to share ("share this screenshot to improve the model")."""

    __tablename__ = "shared_images"

    sha256: Mapped[str] = mapped_column(String(SHA256_HEX), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    content_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    perceptual_hash: Mapped[str] = mapped_column(String(DHASH_HEX))
    shared_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Review(Base):
    """A moderator's decision on one image: pending until accepted (the visitors' label kept), fixed (the
    moderator's label) or rejected."""

    __tablename__ = "reviews"
    __table_args__ = (CheckConstraint(f"state IN {REVIEW_STATES}", name="state"),)

    sha256: Mapped[str] = mapped_column(String(SHA256_HEX), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # one of REVIEW_STATES
    label: Mapped[str | None] = mapped_column(String(64))
    reviewer: Mapped[str | None] = mapped_column(String(128))
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    why: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ApiKey(Base):
    """A client's API key (store.api_keys): its public prefix and a keyed hash of the whole key, never the
    key itself, with the limits the gateway enforces for it. ``revoked_at`` in the future is a rotated
    key's grace: it still works until then."""

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint("burst >= 1 AND daily >= 1 AND concurrency >= 1", name="limits"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(KEY_PREFIX_CHARS), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(SHA256_HEX))  # HMAC-SHA256 under the stack's pepper
    name: Mapped[str] = mapped_column(String(128))
    rate: Mapped[str] = mapped_column(String(32))  # "60/minute": sustained units per period
    burst: Mapped[int] = mapped_column(Integer)  # units that may be taken at once
    daily: Mapped[int] = mapped_column(Integer)  # units answered in any rolling 24 hours
    concurrency: Mapped[int] = mapped_column(Integer)  # requests in flight at once
    scopes: Mapped[str] = mapped_column(String(128))  # comma-separated, of store.api_keys.SCOPES
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    rotated_from: Mapped[str | None] = mapped_column(String(KEY_PREFIX_CHARS))  # the prefix it replaced
