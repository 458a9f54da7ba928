"""Reading a feedback form (POST /api/v1/feedback), once it is admitted: multipart fields ``sha256``,
``verdict``, ``label``, ``share`` and ``file``, the body within the upload limit (a 413 as it streams
in), each field checked before anything is looked up or stored. Whether ``label`` fits the model's
answer is the use case's to say (gateway.feedback), which knows the answer; whether it is a game at all
is the served model's to say (its labels, gateway.model_state), not the gateway's own table.

The file is required, checked as any upload is (gateway.validation), and must be the image ``sha256``
names. A hash alone used to be enough when its answer was cached (201, else 404), which told anyone
holding a hash that someone had classified the image in the last day: the oracle share links closed
(gateway.shares). The image itself is the proof now, and the page and the CLI always hold it. Keeping
the screenshot is a separate choice, ``share`` (``true``; ``false`` when absent)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.requests import Request

from gateway.cache import image_digest
from gateway.config import Settings
from gateway.errors import ApiError
from gateway.multipart import Part, form_parts
from gateway.validation import Upload, checked_image, counted, too_large
from store.models import VERDICTS

SHA256 = re.compile(r"[0-9a-f]{64}")
FIELD_BYTES = 64  # the longest text field, a SHA-256, is 64 characters
SHARE = {"true": True, "false": False}


@dataclass(frozen=True)
class FeedbackForm:
    sha256: str
    verdict: str
    label: str | None
    upload: Upload  # the screenshot the vote is about
    share: bool  # the visitor's consent to keep it for review


def invalid(message: str) -> ApiError:
    return ApiError(422, "invalid_request", message)


async def read_feedback_form(request: Request, settings: Settings, games: tuple[str, ...]) -> FeedbackForm:
    """``games``: the labels a vote may name, the served model's."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(415, "unsupported_media_type", "send the feedback as multipart/form-data")
    body = counted(request, settings.max_body_bytes, too_large(settings.max_upload_bytes))
    limits = {name: FIELD_BYTES for name in ("sha256", "verdict", "label", "share")}
    parts = await form_parts(body, content_type, {**limits, "file": settings.max_upload_bytes})
    sha256, verdict = _text(parts, "sha256") or "", _text(parts, "verdict") or ""
    label = _text(parts, "label") or None
    check_fields(sha256, verdict, label, games)
    share = SHARE.get(_text(parts, "share") or "false")
    if share is None:
        raise invalid("share: must be true or false")
    file = parts.get("file")
    if file is None:
        raise ApiError(
            422,
            "missing_file",
            "send the screenshot itself as the multipart field 'file': its hash alone is not enough",
        )
    if file.too_large:
        raise too_large(settings.max_upload_bytes)
    upload = checked_image(file.data, settings.max_upload_bytes, settings.max_image_pixels)
    if image_digest(upload.data) != sha256:
        raise ApiError(400, "hash_mismatch", "the file's SHA-256 is not the sha256 sent with it")
    return FeedbackForm(sha256, verdict, label, upload, share)


def _text(parts: dict[str, Part], name: str) -> str | None:
    part = parts.get(name)
    if part is None:
        return None
    if part.too_large:
        raise invalid(f"{name}: too long")
    try:
        return part.data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise invalid(f"{name}: must be ASCII") from None


def check_fields(sha256: str, verdict: str, label: str | None, games: tuple[str, ...]) -> None:
    """The text fields, each on its own: a 422 that names the first one wrong."""
    if not SHA256.fullmatch(sha256):
        raise invalid("sha256: must be 64 lowercase hexadecimal digits")
    if verdict not in VERDICTS:
        raise invalid(f"verdict: must be one of {', '.join(VERDICTS)}")
    if label is not None and label not in games:
        raise invalid(f"label: must be one of {', '.join(games)}")
    if verdict == "wrong" and label is None:
        raise invalid("label: say which game it is when the answer was wrong")
    if verdict == "not_a_game" and label is not None:
        raise invalid("label: must be absent when it is not a game")
