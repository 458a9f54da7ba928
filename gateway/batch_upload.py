"""Reading a batch (POST /api/v1/classify/batch), once it is admitted: multipart field ``files`` repeated,
at most ``BATCH_MAX_FILES`` of them (a 422 as the one more begins), the whole body within the batch's
limit (``max_batch_body_bytes``, from MAX_UPLOAD_BYTES as nginx's is; a 413 as the body streams in).
Each file is then checked as a single upload is (gateway.validation), and one that fails the checks is
refused alone: its ``ApiError`` takes its place in the list, and a file over MAX_UPLOAD_BYTES is never
held past that size.

The client may declare how many files it sends (``count``): the limiter then admits the whole batch
before the body is read (gateway.api.routes.classify), so a batch over the client's remaining budget
costs it no upload.
"""

from __future__ import annotations

from starlette.requests import Request

from gateway.config import Settings
from gateway.errors import ApiError
from gateway.multipart import file_parts
from gateway.validation import Upload, checked_image, counted, megabytes, too_large

FIELD = "files"
Item = Upload | ApiError  # a file of the batch, or why it alone is refused


def too_many_files(limit: int) -> ApiError:
    """A 422, as for any field over its schema's maximum (the body's size has its own 413)."""
    return ApiError(422, "too_many_files", f"a batch holds at most {limit} files")


def parse_count(raw: str | None, limit: int) -> int | None:
    """The files the client says it sends, when it says: a whole number from 1 to ``limit``, else a 422
    before anything is read."""
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4 and 1 <= int(raw) <= limit):
        raise ApiError(422, "invalid_request", f"count: must be a whole number from 1 to {limit}")
    return int(raw)


async def read_batch(request: Request, settings: Settings, declared: int | None) -> list[Item]:
    """The batch's files in the order sent, each an ``Upload`` or the error that refuses it."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(
            415, "unsupported_media_type", f"send the images as multipart/form-data, field {FIELD!r} repeated"
        )
    limit = settings.max_batch_body_bytes
    over = ApiError(413, "payload_too_large", f"the batch is larger than {megabytes(limit)}")
    body = counted(request, limit, over)
    parts = await file_parts(
        body,
        content_type,
        FIELD,
        limit=settings.batch_max_files,
        beyond=too_many_files(settings.batch_max_files),
        max_bytes=settings.max_upload_bytes,
    )
    if not parts:
        raise ApiError(422, "missing_file", f"send the images as the multipart field {FIELD!r}, repeated")
    if not all(part.is_file for part in parts):  # a text field: what a form sends when no file was chosen
        raise ApiError(422, "invalid_request", f"each part of the field {FIELD!r} must be a file")
    if declared is not None and len(parts) != declared:
        raise ApiError(422, "count_mismatch", f"count said {declared} files; the body holds {len(parts)}")
    items: list[Item] = []
    for part in parts:
        try:
            if part.too_large:
                raise too_large(settings.max_upload_bytes)
            items.append(checked_image(part.data, settings.max_upload_bytes, settings.max_image_pixels))
        except ApiError as refused:
            items.append(refused)
    return items
