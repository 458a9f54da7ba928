"""Recording a visitor's feedback: the prediction they judged, their vote (a repeat from the same client
for the same image updates it), the screenshot when they agreed to share it, and a pending review of
the image, all in one transaction (store.session): a gateway killed mid-write leaves none of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from store.models import Prediction, Review, SharedImage, Vote, utcnow
from store.session import insert_or_get


@dataclass(frozen=True)
class Judged:
    """The model's answer the visitor judged, as the gateway served it."""

    sha256: str
    model: str
    version: str
    digest: str
    label: str
    confidence: float
    top_k: list[dict[str, Any]]


@dataclass(frozen=True)
class Ballot:
    sha256: str
    client: str  # a keyed hash of the visitor's rate-limit bucket
    verdict: str  # one of store.models.VERDICTS
    label: str | None  # the game the visitor says it is


@dataclass(frozen=True)
class Shared:
    """A screenshot its visitor agreed to share, with what the gateway read from it."""

    data: bytes
    content_type: str
    width: int
    height: int
    perceptual_hash: str


@dataclass(frozen=True)
class Recorded:
    updated: bool  # the client had voted on this image before
    shared: bool  # this vote came with its screenshot, now kept
    prediction_id: int


def record_vote(
    session: Session, judged: Judged, ballot: Ballot, image: Shared | None, now: datetime | None = None
) -> Recorded:
    now = now or utcnow()
    prediction = _prediction(session, judged, now)
    vote, created = insert_or_get(
        session,
        Vote(
            sha256=ballot.sha256,
            client=ballot.client,
            prediction_id=prediction.id,
            verdict=ballot.verdict,
            label=ballot.label,
            created_at=now,
            updated_at=now,
        ),
        lambda: session.scalars(
            select(Vote).where(Vote.sha256 == ballot.sha256, Vote.client == ballot.client).with_for_update()
        ).one_or_none(),
    )
    if not created:
        vote.prediction_id, vote.verdict, vote.label, vote.updated_at = (
            prediction.id,
            ballot.verdict,
            ballot.label,
            now,
        )
    if image is not None:
        _share(session, ballot.sha256, image, now)
    insert_or_get(
        session,
        Review(sha256=ballot.sha256, state="pending", created_at=now),
        lambda: session.get(Review, ballot.sha256),
    )
    session.flush()
    return Recorded(updated=not created, shared=image is not None, prediction_id=prediction.id)


def _prediction(session: Session, judged: Judged, now: datetime) -> Prediction:
    row = Prediction(
        sha256=judged.sha256,
        model=judged.model,
        version=judged.version,
        digest=judged.digest,
        label=judged.label,
        confidence=judged.confidence,
        top_k=judged.top_k,
        first_seen=now,
    )
    prediction, _ = insert_or_get(
        session,
        row,
        lambda: session.scalars(
            select(Prediction).where(
                Prediction.sha256 == judged.sha256,
                Prediction.model == judged.model,
                Prediction.version == judged.version,
                Prediction.digest == judged.digest,
            )
        ).one_or_none(),
    )
    return prediction


def _share(session: Session, sha256: str, image: Shared, now: datetime) -> None:
    """Keep the screenshot (once: the same hash is the same bytes) and give its predictions its dHash."""
    insert_or_get(
        session,
        SharedImage(
            sha256=sha256,
            data=image.data,
            content_type=image.content_type,
            width=image.width,
            height=image.height,
            perceptual_hash=image.perceptual_hash,
            shared_at=now,
        ),
        lambda: session.get(SharedImage, sha256),
    )
    session.execute(
        update(Prediction)
        .where(Prediction.sha256 == sha256, Prediction.perceptual_hash.is_(None))
        .values(perceptual_hash=image.perceptual_hash)
    )
