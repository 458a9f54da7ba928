"""Sending feedback as the page and the folder CLI do (multipart fields with the image itself, and the
consent to keep it as its own field), and reading back what the store holds, for the tests of
POST /api/v1/feedback."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import func, make_url, select

from launchers.postgres import PostgresServer
from launchers.procs import wait_until
from launchers.redis import RedisServer
from store import migrate
from store.engine import make_engine
from store.models import Prediction, Review, SharedImage, Vote
from store.session import transaction


def post_feedback(
    base: str,
    image: bytes | None,
    verdict: str,
    label: str | None = None,
    *,
    share: bool | None = None,
    sha256: str | None = None,
    client: str | None = None,
    timeout: float = 30,
) -> httpx.Response:
    """A vote on ``image``, sent with it as the page and the CLI send it; ``share``: the consent field
    (left out when None: the gateway's default, false); ``sha256``: what the form names, the image's own
    unless given (a test of a mismatch, or of a hash sent without its image, ``image`` None).
    ``client``: an address the gateway believes from X-Forwarded-For (a test calling the gateway
    straight from loopback, its trusted proxy, stands for several visitors)."""
    if sha256 is None:
        assert image is not None, "a vote names an image: its bytes or its hash"
        sha256 = hashlib.sha256(image).hexdigest()
    fields: dict[str, tuple[str | None, bytes | str, str] | tuple[None, str]] = {
        "sha256": (None, sha256),
        "verdict": (None, verdict),
    }
    if label is not None:
        fields["label"] = (None, label)
    if share is not None:
        fields["share"] = (None, "true" if share else "false")
    if image is not None:
        fields["file"] = ("shot.jpg", image, "image/jpeg")
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


def database_env(postgres: PostgresServer, tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A new migrated database on ``postgres``: its URL (for the test to read) and the gateway's settings
    for it, the password from a file; with the key the replicas share."""
    url = postgres.create_database(f"feedback_{uuid.uuid4().hex[:10]}")
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    key = tmp_path / "feedback.key"
    key.write_text(secrets.token_hex(32))
    env = {
        "DATABASE_URL": make_url(url).set(password=None).render_as_string(hide_password=False),
        "DATABASE_PASSWORD_FILE": str(postgres.password_file),
        "FEEDBACK_KEY_FILE": str(key),
    }
    return url, env


def classified(base: str, image: bytes, redis: RedisServer) -> dict:
    """The image classified, once its answer is in Redis, where every worker finds it (the cache writes
    behind the answer: on a loaded machine later than launchers.gateway.WRITE_BEHIND_WAIT)."""
    response = httpx.post(
        f"{base}/api/v1/classify", files={"file": ("shot.jpg", image, "image/jpeg")}, timeout=60
    )
    assert response.status_code == 200, response.text
    sha = response.json()["sha256"]
    wait_until(lambda: bool(redis.client().keys(f"fromsoft:answer:*:{sha}")), 20, "the answer in Redis")
    return response.json()
