"""Reading an upload, once it is admitted: counted while it streams in (a 413 comes before the rest is
read), the image taken from multipart field ``file`` or the raw body into one buffer, its magic bytes
checked, and what decoding it would cost judged as the handler judges it (inference.image_limits: its
structure walked, then its width and height read from its header), so nothing malformed, too large or too
costly reaches TorchServe. Also the one query parameter, ``top_k``.

The walk runs first and in C where it can (a 5 MB JPEG's segments in milliseconds): Pillow reads a
header's segments in Python, and 5 MB of them held it a second. Pillow then opens the image lazily:
reading the size decodes no pixel (about 0.1 ms for a 4K JPEG, 1.3 ms for the largest WebP). The size
also prices the request: PNG and WebP have no draft mode, so the worker's decoding cost grows with the
pixels (gateway.api.routes.classify).
"""

from __future__ import annotations

import io
import logging
import math
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError
from starlette.requests import Request

from gateway.errors import ApiError
from gateway.multipart import file_field
from inference.formats import CONTENT_TYPES, sniff_format
from inference.image_limits import ImageLimitError, check_dimensions, check_structure

logger = logging.getLogger(__name__)

TOP_K_DEFAULT, TOP_K_MAX = 3, 7  # the model knows seven games


@dataclass(frozen=True)
class Upload:
    data: bytes | bytearray
    content_type: str  # derived from the bytes, never trusted from the client
    pixels: int  # width x height, from the image's header

    def units(self, pixels_per_unit: int) -> int:
        """What decoding it costs, in rate-limit units: one per ``pixels_per_unit`` pixels, started."""
        return max(1, math.ceil(self.pixels / pixels_per_unit))


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"


def too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"the image is larger than {megabytes(limit)}")


async def counted(request: Request, max_body_bytes: int, refusal: ApiError) -> AsyncIterator[bytes]:
    """The body's chunks, refused with ``refusal`` (a 413) as soon as they add up to more than
    ``max_body_bytes``, or at once when Content-Length says they will."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_body_bytes:
        raise refusal
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body_bytes:
            raise refusal
        yield chunk


def image_pixels(data: bytes | bytearray, fmt: str, max_pixels: int) -> int:
    """Width x height from the header, once the image is judged affordable (inference.image_limits: 413
    over ``max_pixels`` or the decoder's memory budget, 422 for an elongated or too complex one); 400 when
    Pillow cannot read the header (its own words go to the log, under the request's ID, never to the
    client)."""
    try:
        structure = check_structure(data, fmt)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as img:
                width, height = img.size
        check_dimensions(fmt, width, height, max_pixels, structure)
    except ImageLimitError as refused:
        raise ApiError(refused.status, refused.code, refused.message) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ApiError(413, "image_too_large", f"the image has more than {max_pixels} pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        logger.info("unreadable %s header: %s: %s", fmt, type(exc).__name__, exc)
        raise ApiError(400, "invalid_image", f"the {fmt} image is truncated or corrupt") from None
    return width * height


async def read_upload(request: Request, max_image_bytes: int, max_body_bytes: int, max_pixels: int) -> Upload:
    content_type = request.headers.get("content-type", "")
    body = counted(request, max_body_bytes, too_large(max_image_bytes))
    if content_type.lower().startswith("multipart/form-data"):
        data = await file_field(body, content_type)
    elif content_type.lower().startswith(("image/", "application/octet-stream")):
        data = bytearray()
        async for chunk in body:
            data += chunk
    else:
        raise ApiError(
            415,
            "unsupported_media_type",
            "send a JPEG, PNG or WebP as multipart field 'file' or as the body with an image Content-Type",
        )
    return checked_image(data, max_image_bytes, max_pixels)


def checked_image(data: bytearray, max_image_bytes: int, max_pixels: int) -> Upload:
    """One uploaded file as an ``Upload``, or the ApiError that refuses it: empty, too large, not an image
    we accept (judged by its bytes), or too costly to decode (from its structure and header)."""
    if not data:
        raise ApiError(400, "empty_payload", "the request carried no image")
    if len(data) > max_image_bytes:
        raise too_large(max_image_bytes)
    fmt = sniff_format(data)
    if fmt is None:
        raise ApiError(415, "unsupported_media_type", "that file is not a JPEG, PNG or WebP image")
    return Upload(data, CONTENT_TYPES[fmt], image_pixels(data, fmt, max_pixels))


def parse_top_k(raw: str | None) -> int:
    """How many games to list: 1 to 7, 3 when not given."""
    if raw is None:
        return TOP_K_DEFAULT
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 2 and 1 <= int(raw) <= TOP_K_MAX):
        raise ApiError(422, "invalid_request", f"top_k: must be a whole number from 1 to {TOP_K_MAX}")
    return int(raw)
