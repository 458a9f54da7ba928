"""What the review tool (``python -m ops.feedback``) does with the feedback: the queue, a moderator's
decisions, the images a retrain may use, retention and forgetting. Each function works inside the
caller's transaction (store.session.transaction), so a decision on many images is all or nothing."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from inference.labels import LABELS
from store.models import DECIDED, Prediction, Review, SharedImage, Vote, utcnow
from store.perceptual import NEAR_DUPLICATE_BITS, hamming


class UnknownImagesError(LookupError):
    """Images nobody gave feedback on: nothing to decide."""

    def __init__(self, sha256s: list[str]) -> None:
        super().__init__(f"no feedback on {', '.join(sha256s)}")
        self.sha256s = sha256s


@dataclass
class QueueEntry:
    """A pending image: what the model said, what visitors said, and its near-duplicates' group."""

    sha256: str
    predicted: str  # the label of the latest prediction judged
    model: str
    version: str
    confidence: float  # the latest prediction's
    verdicts: dict[str, int]  # right / wrong / not_a_game -> votes
    labels: dict[str, int]  # the games visitors named (a "right" names the predicted one)
    shared: bool
    perceptual_hash: str | None
    first_vote: datetime
    group: str = ""  # the sha256 of the group's first entry: near-duplicates by dHash

    @property
    def contested(self) -> bool:
        """A wrong answer, or visitors who disagree: what a moderator looks at first."""
        return any(verdict != "right" for verdict in self.verdicts) or len(self.labels) > 1

    @property
    def votes(self) -> int:
        return sum(self.verdicts.values())


def queue(session: Session) -> list[QueueEntry]:
    """Pending images, contested first, then by votes; near-duplicates (dHashes at most
    NEAR_DUPLICATE_BITS apart) follow the first of their group."""
    entries = _pending(session)
    entries.sort(key=lambda e: (not e.contested, -e.votes, e.first_vote, e.sha256))
    groups: dict[str, list[QueueEntry]] = {}
    for entry in entries:
        leader = next(
            (
                sha
                for sha, members in groups.items()
                if entry.perceptual_hash
                and members[0].perceptual_hash
                and hamming(entry.perceptual_hash, members[0].perceptual_hash) <= NEAR_DUPLICATE_BITS
            ),
            None,
        )
        entry.group = leader or entry.sha256
        groups.setdefault(entry.group, []).append(entry)
    return [entry for members in groups.values() for entry in members]


def _pending(session: Session) -> list[QueueEntry]:
    rows = session.execute(
        select(Vote.sha256, Vote.verdict, Vote.label, Vote.created_at, Prediction)
        .join(Prediction, Vote.prediction_id == Prediction.id)
        .join(Review, Review.sha256 == Vote.sha256)
        .where(Review.state == "pending")
        .order_by(Prediction.first_seen)
    ).all()
    shared = dict(session.execute(select(SharedImage.sha256, SharedImage.perceptual_hash)).all())
    entries: dict[str, QueueEntry] = {}
    for sha256, verdict, label, created_at, prediction in rows:
        entry = entries.get(sha256)
        if entry is None:
            entry = entries[sha256] = QueueEntry(
                sha256,
                prediction.label,
                prediction.model,
                prediction.version,
                prediction.confidence,
                {},
                {},
                sha256 in shared,
                None,
                created_at,
            )
        entry.predicted, entry.model = prediction.label, prediction.model  # the latest judged
        entry.version, entry.confidence = prediction.version, prediction.confidence
        entry.perceptual_hash = shared.get(sha256) or prediction.perceptual_hash or entry.perceptual_hash
        entry.first_vote = min(entry.first_vote, created_at)
        entry.verdicts[verdict] = entry.verdicts.get(verdict, 0) + 1
        named = label or (prediction.label if verdict == "right" else None)
        if named in LABELS:
            entry.labels[named] = entry.labels.get(named, 0) + 1
    return list(entries.values())


def matching(session: Session, prefix: str) -> list[str]:
    """The images the store holds anything about (a vote, a prediction, a screenshot or a review) whose
    SHA-256 begins with ``prefix`` (lowercase hex), sorted: how a moderator names one by its first
    digits."""
    found: set[str] = set()
    for table in (Review, Vote, Prediction, SharedImage):
        found.update(session.scalars(select(table.sha256).where(table.sha256.startswith(prefix)).distinct()))
    return sorted(found)


def consensus(labels: dict[str, int]) -> str | None:
    """The game most visitors named (ties: the first label in alphabetical order), or None."""
    games = sorted((-count, label) for label, count in labels.items() if label in LABELS)
    return games[0][1] if games else None


@dataclass(frozen=True)
class Decision:
    state: str  # accepted, fixed or rejected
    reviewer: str
    label: str | None = None  # fixed: the moderator's game
    why: str | None = None


def decide(
    session: Session, sha256s: Iterable[str], decision: Decision, now: datetime | None = None
) -> list[Review]:
    """Accept (the visitors' consensus kept as the label), fix (``decision.label``) or reject each image,
    whatever it was before: all of them, or none when one is unknown."""
    if decision.state not in ("accepted", "fixed", "rejected"):
        raise ValueError(f"a review ends accepted, fixed or rejected, not {decision.state!r}")
    if decision.state == "fixed" and decision.label not in LABELS:
        raise ValueError(f"fixing needs a game's label ({', '.join(LABELS)}), not {decision.label!r}")
    wanted = list(dict.fromkeys(sha256s))
    reviews = {r.sha256: r for r in session.scalars(select(Review).where(Review.sha256.in_(wanted)))}
    if missing := [sha for sha in wanted if sha not in reviews]:
        raise UnknownImagesError(missing)
    labels = _vote_labels(session, wanted) if decision.state == "accepted" else {}
    for sha256 in wanted:
        review = reviews[sha256]
        review.state, review.reviewer, review.why = decision.state, decision.reviewer, decision.why
        review.reviewed_at = now or utcnow()
        review.label = {
            "accepted": consensus(labels.get(sha256, {})),
            "fixed": decision.label,
            "rejected": None,
        }[decision.state]
    session.flush()
    return [reviews[sha] for sha in wanted]


def _vote_labels(session: Session, sha256s: list[str]) -> dict[str, dict[str, int]]:
    """Per image, the games its visitors named: a "right" vote names the game the model answered."""
    named = func.coalesce(Vote.label, Prediction.label)
    rows = session.execute(
        select(Vote.sha256, named, func.count())
        .join(Prediction, Vote.prediction_id == Prediction.id)
        .where(Vote.sha256.in_(sha256s), Vote.verdict != "not_a_game")
        .group_by(Vote.sha256, named)
    ).all()
    found: dict[str, dict[str, int]] = defaultdict(dict)
    for sha256, label, count in rows:
        found[sha256][label] = count
    return found


@dataclass(frozen=True)
class Exportable:
    """An image a moderator kept, with its game: one row of the exported data set's manifest."""

    sha256: str
    label: str
    reviewer: str
    reviewed_at: datetime
    content_type: str
    data: bytes
    verdict_counts: dict[str, int] = field(default_factory=dict)
    source: str = "feedback"


KEPT_WITH_A_GAME = (Review.state.in_(DECIDED), Review.label.in_(LABELS))  # what exportable yields


def exportable_count(session: Session) -> int:
    """How many images ``exportable`` yields (a progress bar's total), without reading their bytes."""
    found = session.scalar(
        select(func.count())
        .select_from(Review)
        .join(SharedImage, SharedImage.sha256 == Review.sha256)
        .where(*KEPT_WITH_A_GAME)
    )
    return int(found or 0)


def exportable(session: Session) -> Iterator[Exportable]:
    """Accepted and fixed images whose screenshot was shared and whose label is a game, by hash."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for sha256, verdict, count in session.execute(
        select(Vote.sha256, Vote.verdict, func.count()).group_by(Vote.sha256, Vote.verdict)
    ):
        counts[sha256][verdict] = count
    rows = session.execute(
        select(Review, SharedImage)
        .join(SharedImage, SharedImage.sha256 == Review.sha256)
        .where(*KEPT_WITH_A_GAME)
        .order_by(Review.sha256)
        .execution_options(yield_per=32)  # the bytes of 32 screenshots at a time, not all of them
    )
    for review, image in rows:
        assert review.label is not None
        assert review.reviewer is not None
        assert review.reviewed_at is not None
        yield Exportable(
            review.sha256,
            review.label,
            review.reviewer,
            review.reviewed_at,
            image.content_type,
            image.data,
            dict(counts[review.sha256]),
        )


def _expired(retention_days: float, now: datetime | None) -> tuple[ColumnElement[bool], ...]:
    """The screenshots shared more than ``retention_days`` ago that no moderator kept."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    kept = select(Review.sha256).where(Review.state.in_(DECIDED))
    return SharedImage.shared_at < cutoff, SharedImage.sha256.not_in(kept)


@dataclass(frozen=True)
class Expired:
    images: int
    bytes: int


def expired(session: Session, retention_days: float, now: datetime | None = None) -> Expired:
    """What ``prune`` would delete now: how many screenshots, and their bytes (a dry run)."""
    images, size = session.execute(
        select(func.count(), func.coalesce(func.sum(func.length(SharedImage.data)), 0)).where(
            *_expired(retention_days, now)
        )
    ).one()
    return Expired(int(images), int(size))


def prune(session: Session, retention_days: float, now: datetime | None = None) -> int:
    """Delete the screenshots shared more than ``retention_days`` ago that no moderator kept
    (FEEDBACK_RETENTION_DAYS); returns how many."""
    result = session.execute(delete(SharedImage).where(*_expired(retention_days, now)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Forgotten:
    votes: int
    predictions: int
    images: int
    reviews: int


def forget(session: Session, sha256: str) -> Forgotten:
    """Everything the store holds about one image, deleted (on request)."""

    def gone(table: type[Vote] | type[Prediction] | type[SharedImage] | type[Review]) -> int:
        result = session.execute(delete(table).where(table.sha256 == sha256))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    return Forgotten(
        votes=gone(Vote), predictions=gone(Prediction), images=gone(SharedImage), reviews=gone(Review)
    )
