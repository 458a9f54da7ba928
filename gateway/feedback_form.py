"""Reading a feedback form (POST /api/v1/feedback), once it is admitted: multipart fields ``sha256``,
``verdict``, ``label`` and an optional ``file``, the body within the upload limit (a 413 as it streams
in), each field checked before anything is looked up or stored. The file is checked as any upload is
(gateway.validation) and must be the image ``sha256`` names; sending it is the visitor's consent to keep
it. Whether ``label`` fits the model's answer is the use case's to say (gateway.feedback), which knows
the answer."""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.requests import Request

from gateway.cache import image_digest
from gateway.config import Settings
from gateway.errors import ApiError
from gateway.multipart import Part, form_parts
from gateway.validation import Upload, checked_image, counted, too_large
from inference.labels import LABELS
from store.models import VERDICTS

SHA256 = re.compile(r"[0-9a-f]{64}")
FIELD_BYTES = 64  # the longest text field, a SHA-256, is 64 characters


@dataclass(frozen=True)
class FeedbackForm:
    sha256: str
    verdict: str
    label: str | None
    upload: Upload | None  # the screenshot, shared with consent


def invalid(message: str) -> ApiError:
    return ApiError(422, "invalid_request", message)


async def read_feedback_form(request: Request, settings: Settings) -> FeedbackForm:
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(415, "unsupported_media_type", "send the feedback as multipart/form-data")
    body = counted(request, settings.max_body_bytes, too_large(settings.max_upload_bytes))
    limits = {
        "sha256": FIELD_BYTES,
        "verdict": FIELD_BYTES,
        "label": FIELD_BYTES,
        "file": settings.max_upload_bytes,
    }
    parts = await form_parts(body, content_type, limits)
    form = FeedbackForm(
        sha256=_text(parts, "sha256") or "",
        verdict=_text(parts, "verdict") or "",
        label=_text(parts, "label") or None,
        upload=None,
    )
    check_fields(form)
    file = parts.get("file")
    if file is None:
        return form
    if file.too_large:
        raise too_large(settings.max_upload_bytes)
    upload = checked_image(file.data, settings.max_upload_bytes, settings.max_image_pixels)
    if image_digest(upload.data) != form.sha256:
        raise ApiError(400, "hash_mismatch", "the file's SHA-256 is not the sha256 sent with it")
    return FeedbackForm(form.sha256, form.verdict, form.label, upload)


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


def check_fields(form: FeedbackForm) -> None:
    """The fields, each on its own: a 422 that names the first one wrong."""
    if not SHA256.fullmatch(form.sha256):
        raise invalid("sha256: must be 64 lowercase hexadecimal digits")
    if form.verdict not in VERDICTS:
        raise invalid(f"verdict: must be one of {', '.join(VERDICTS)}")
    if form.label is not None and form.label not in LABELS:
        raise invalid(f"label: must be one of {', '.join(LABELS)}")
    if form.verdict == "wrong" and form.label is None:
        raise invalid("label: say which game it is when the answer was wrong")
    if form.verdict == "not_a_game" and form.label is not None:
        raise invalid("label: must be absent when it is not a game")
