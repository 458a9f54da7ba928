"""Reading a batch (POST /api/v1/classify/batch), once it is admitted: multipart field ``files`` repeated,
and fields ``url`` among them for images to fetch, at most ``BATCH_MAX_FILES`` in all (a 422 as the one
more begins), the whole body within the batch's limit (``max_batch_body_bytes``, from MAX_UPLOAD_BYTES as
nginx's is; a 413 as the body streams in); or a JSON body ``{"urls": [...]}``. Each file is then checked
as a single upload is (gateway.validation), and one that fails the checks is refused alone: its
``ApiError`` takes its place in the list, and a file over MAX_UPLOAD_BYTES is never held past that size.
A URL keeps its place as an ``ImageUrl`` until it is fetched (gateway.api.routes.classify).

The client may declare how many files it sends (``count``): the limiter then admits the whole batch
before the body is read (gateway.api.routes.classify), so a batch over the client's remaining budget
costs it no upload.
"""

from __future__ import annotations

from starlette.requests import Request

from gateway.config import Settings
from gateway.errors import ApiError
from gateway.multipart import Part, file_parts
from gateway.url_guard import URL_MAX_LENGTH
from gateway.url_input import (
    URL_FIELD,
    ImageUrl,
    image_url,
    is_json,
    json_body_bytes,
    only_key,
    read_json,
    url_of_part,
)
from gateway.validation import Upload, checked_image, counted, megabytes, too_large

FIELD = "files"
JSON_FIELD = "urls"
Item = Upload | ApiError  # a file of the batch, or why it alone is refused
Sent = Item | ImageUrl  # as read: a URL not fetched yet


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


async def read_batch(request: Request, settings: Settings, declared: int | None) -> list[Sent]:
    """The batch's images in the order sent, each an ``Upload``, the error that refuses it, or a URL."""
    if is_json(request):
        items = _json_urls(await read_json(request, json_body_bytes(settings.batch_max_files)), settings)
    else:
        items = [_item(part, settings) for part in await _parts(request, settings)]
    if declared is not None and len(items) != declared:
        raise ApiError(422, "count_mismatch", f"count said {declared} files; the body holds {len(items)}")
    return items


async def _parts(request: Request, settings: Settings) -> list[Part]:
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the images as multipart/form-data, field {FIELD!r} repeated, or their addresses as "
            f'JSON {{"{JSON_FIELD}": [...]}}',
        )
    limit = settings.max_batch_body_bytes
    over = ApiError(413, "payload_too_large", f"the batch is larger than {megabytes(limit)}")
    parts = await file_parts(
        counted(request, limit, over),
        content_type,
        {FIELD: settings.max_upload_bytes, URL_FIELD: URL_MAX_LENGTH},
        limit=settings.batch_max_files,
        beyond=too_many_files(settings.batch_max_files),
    )
    if not parts:
        raise ApiError(
            422,
            "missing_file",
            f"send the images as the multipart field {FIELD!r}, repeated, or 'url' fields",
        )
    # A text field: what a form sends when no file was chosen.
    if not all(part.is_file for part in parts if part.name == FIELD):
        raise ApiError(422, "invalid_request", f"each part of the field {FIELD!r} must be a file")
    return parts


def _item(part: Part, settings: Settings) -> Sent:
    """A file checked, alone; a URL's text (one that is not text, or too long, fails the batch: its
    shape is wrong, as a part of ``files`` that is not a file is)."""
    if part.name == URL_FIELD:
        return url_of_part(part)
    try:
        if part.too_large:
            raise too_large(settings.max_upload_bytes)
        return checked_image(part.data, settings.max_upload_bytes, settings.max_image_pixels)
    except ApiError as refused:
        return refused


def _json_urls(body: dict[str, object], settings: Settings) -> list[Sent]:
    urls = only_key(body, JSON_FIELD)
    if not isinstance(urls, list) or not urls:
        raise ApiError(422, "invalid_request", f"{JSON_FIELD}: must be a list of at least one URL")
    if len(urls) > settings.batch_max_files:
        raise too_many_files(settings.batch_max_files)
    return [image_url(url) for url in urls]
