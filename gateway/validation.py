"""Reading an upload before anything else happens: counted while it streams in (a 413 comes before
the rest is read), the image taken from multipart field ``file`` or the raw body, and its magic bytes
checked, so nothing malformed reaches TorchServe. Also the one query parameter, ``top_k``."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from starlette.datastructures import UploadFile

from gateway.errors import ApiError
from handler.formats import sniff_format

CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
TOP_K_DEFAULT, TOP_K_MAX = 3, 7  # the model knows seven games


@dataclass(frozen=True)
class Upload:
    data: bytes
    content_type: str  # derived from the bytes, never trusted from the client


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"the image is larger than {limit // (1024 * 1024)} MB")


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_upload(request: Request, max_image_bytes: int, max_body_bytes: int) -> Upload:
    content_type = request.headers.get("content-type", "").lower()
    body = await read_body(request, max_body_bytes)
    if content_type.startswith("multipart/form-data"):
        request._body = body  # Starlette parses the form from the cached body instead of the spent stream
        form = await request.form(max_files=1, max_fields=8, max_part_size=max_body_bytes)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(422, "missing_file", "send the image as the multipart field 'file'")
        data = await upload.read()
    elif content_type.startswith(("image/", "application/octet-stream")):
        data = body
    else:
        raise ApiError(
            415,
            "unsupported_media_type",
            "send a JPEG, PNG or WebP as multipart field 'file' or as the body with an image Content-Type",
        )
    if not data:
        raise ApiError(400, "empty_payload", "the request carried no image")
    if len(data) > max_image_bytes:
        raise _too_large(max_image_bytes)
    fmt = sniff_format(data)
    if fmt is None:
        raise ApiError(415, "unsupported_media_type", "that file is not a JPEG, PNG or WebP image")
    return Upload(data, CONTENT_TYPES[fmt])


def parse_top_k(raw: str | None) -> int:
    """How many games to list: 1 to 7, 3 when not given."""
    if raw is None:
        return TOP_K_DEFAULT
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 2 and 1 <= int(raw) <= TOP_K_MAX):
        raise ApiError(422, "invalid_request", f"top_k: must be a whole number from 1 to {TOP_K_MAX}")
    return int(raw)
