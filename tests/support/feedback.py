"""Sending feedback as the page and the folder CLI do (multipart fields, the file only with consent),
and reading back what the store holds, for the tests of POST /api/v1/feedback."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import func, select

from store.engine import make_engine
from store.models import Prediction, Review, SharedImage, Vote
from store.session import transaction


def post_feedback(
    base: str,
    sha256: str,
    verdict: str,
    label: str | None = None,
    file: bytes | None = None,
    client: str | None = None,
    timeout: float = 30,
) -> httpx.Response:
    """``client``: an address the gateway believes from X-Forwarded-For (a test calling the gateway
    straight from loopback, its trusted proxy, stands for several visitors)."""
    fields: dict[str, tuple[str | None, bytes | str, str] | tuple[None, str]] = {
        "sha256": (None, sha256),
        "verdict": (None, verdict),
    }
    if label is not None:
        fields["label"] = (None, label)
    if file is not None:
        fields["file"] = ("shot.jpg", file, "image/jpeg")
    headers = {"X-Forwarded-For": client} if client else {}
    return httpx.post(f"{base}/api/v1/feedback", files=fields, headers=headers, timeout=timeout)


def client_hash(key_file: Path, address: str) -> str:
    """What the gateway stores for a visitor: the keyed hash of their rate-limit bucket."""
    return hmac.new(key_file.read_bytes().strip(), address.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Held:
    """What the store holds, in plain values."""

    votes: dict[tuple[str, str], tuple[str, str | None, str]]  # (sha256, client) -> verdict, label, version
    predictions: int
    images: dict[str, bytes]
    reviews: dict[str, str]  # sha256 -> state
    orphans: int  # votes whose prediction is missing: must be none


def held(database_url: str) -> Held:
    engine = make_engine(database_url)
    try:
        with transaction(engine) as session:
            votes = {
                (v.sha256, v.client): (v.verdict, v.label, v.prediction.version)
                for v in session.scalars(select(Vote))
            }
            orphans = session.scalar(
                select(func.count())
                .select_from(Vote)
                .outerjoin(Prediction, Vote.prediction_id == Prediction.id)
                .where(Prediction.id.is_(None))
            )
            return Held(
                votes=votes,
                predictions=session.scalar(select(func.count()).select_from(Prediction)) or 0,
                images=dict(session.execute(select(SharedImage.sha256, SharedImage.data)).all()),
                reviews=dict(session.execute(select(Review.sha256, Review.state)).all()),
                orphans=orphans or 0,
            )
    finally:
        engine.dispose()
