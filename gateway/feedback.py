"""What POST /api/v1/feedback does, as plain functions of the worker's services: find the answer the
visitor judged (the cache's, for the version served by default now), check their label against it,
read the screenshot's size and dHash when the visitor agreed to share it, and record the vote
(gateway.feedback_store). The route (gateway.api.routes.feedback) classifies an image first when no
answer for it is cached, charged as a classification."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.concurrency import run_in_threadpool

from gateway.errors import ApiError
from gateway.feedback_form import FeedbackForm, invalid
from gateway.metrics import FEEDBACK
from gateway.services import Services
from gateway.use_cases import cached
from gateway.validation import TOP_K_MAX, Upload
from store.feedback import Ballot, Judged, Shared
from store.perceptual import image_facts


async def judged_answer(services: Services, digest: str) -> dict[str, Any] | None:
    """The answer cached for the image under the version served by default now, the one listing the
    most games (every top_k is cached under its own key); None when the cache holds none."""
    hits = await asyncio.gather(*(cached(services, digest, k) for k in range(TOP_K_MAX, 0, -1)))
    return next((hit for hit in hits if hit is not None), None)


def ballot_label(form: FeedbackForm, answer: dict[str, Any], games: tuple[str, ...]) -> str | None:
    """The game the vote names: the visitor's for "wrong", the model's for "right" (a 422 when the
    visitor names another; none when it answered "unknown"), none for "not a game". ``games``: the served
    model's labels."""
    answered = answer["label"]
    if form.verdict == "right":
        if form.label is not None and form.label != answered:
            raise invalid(f"label: the model answered {answered}; a 'right' verdict cannot name {form.label}")
        return answered if answered in games else None
    if form.verdict == "wrong" and form.label == answered:
        raise invalid(f"label: the model answered {answered} itself; send the verdict 'right'")
    return form.label


def _shared(upload: Upload) -> Shared:
    try:
        facts = image_facts(upload.data)
    except (OSError, ValueError, SyntaxError, EOFError):  # a header that read, pixels that do not
        raise ApiError(400, "invalid_image", "the image is truncated or corrupt") from None
    return Shared(bytes(upload.data), upload.content_type, facts.width, facts.height, facts.dhash)


async def record(
    services: Services, form: FeedbackForm, answer: dict[str, Any], client: str
) -> dict[str, Any]:
    """The vote recorded; the answer's body (``feedback``), ``updated`` when the client had voted before."""
    label = ballot_label(form, answer, services.state.labels)
    shared = await run_in_threadpool(_shared, form.upload) if form.share else None
    model = answer["model"]
    judged = Judged(
        form.sha256,
        model["name"],
        model["version"],
        model["digest"],
        answer["label"],
        answer["confidence"],
        answer["top_k"],
    )
    recorded = await services.feedback.record(
        judged, Ballot(form.sha256, client, form.verdict, label), shared
    )
    if not recorded.updated:  # a change of mind is not a second vote
        FEEDBACK.labels(model["name"], model["version"], form.verdict).inc()
    return {
        "feedback": {
            "sha256": form.sha256,
            "verdict": form.verdict,
            "label": label,
            "shared": recorded.shared,
            "model": {"name": model["name"], "version": model["version"], "digest": model["digest"]},
            "updated": recorded.updated,
        }
    }
