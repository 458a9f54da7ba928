"""What a client sends to have images fetched by URL, read once the request is admitted: a JSON body
(``{"url": ...}`` for /classify, ``{"urls": [...]}`` for a batch) or form fields ``url`` (beside or
instead of files). Only the shape is checked here; whether a URL may be fetched is the guard's
(gateway.url_guard), and the fetch happens once it is paid for (gateway.api.routes.classify).

A JSON body is small: a URL's longest (``URL_MAX_LENGTH``) for each image it may name, and room for the
syntax around them; beyond it a 413 as the body streams in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson
from starlette.requests import Request

from gateway.config import Settings
from gateway.errors import ApiError
from gateway.multipart import Part, form_parts
from gateway.url_guard import URL_MAX_LENGTH, invalid_url
from gateway.validation import Upload, checked_image, counted, read_upload, too_large

JSON = "application/json"
URL_FIELD = "url"
JSON_OVERHEAD = 1024  # brackets, keys, spaces: far more than a JSON body of URLs needs around them
# What a URL must look like to be read at all (the OpenAPI schema's pattern, in ECMA syntax): a scheme of
# http or https in any case, and a host.
URL_SHAPE = "^[hH][tT][tT][pP][sS]?://[^/?#]+"


@dataclass(frozen=True)
class ImageUrl:
    """An image's address as the client wrote it; the guard parses it."""

    url: str


def is_json(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().split(";")[0].strip() == JSON


def json_body_bytes(urls: int) -> int:
    return urls * (URL_MAX_LENGTH + 8) + JSON_OVERHEAD


async def read_json(request: Request, max_bytes: int) -> dict[str, object]:
    """The body as a JSON object: 413 past ``max_bytes``, 400 when it is not JSON, 422 when it is not
    an object."""
    refusal = ApiError(413, "payload_too_large", f"a JSON body of URLs is at most {max_bytes} bytes")
    raw = bytearray()
    async for chunk in counted(request, max_bytes, refusal):
        raw += chunk
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_request", "the JSON body must be an object")
    return body


def only_key(body: dict[str, object], key: str) -> object:
    if set(body) != {key}:
        raise ApiError(422, "invalid_request", f"the JSON body must hold {key!r} and nothing else")
    return body[key]


def image_url(value: object) -> ImageUrl:
    """A URL's text, checked for shape only (``URL_SHAPE``, at most ``URL_MAX_LENGTH`` characters): one
    of another shape fails the whole request, where one that may not be fetched fails alone."""
    if not isinstance(value, str):
        raise invalid_url("must be a string")
    if len(value) > URL_MAX_LENGTH:
        raise invalid_url(f"longer than {URL_MAX_LENGTH} characters")
    if not re.match(URL_SHAPE, value):
        raise invalid_url("must be an http or https URL with a host")
    return ImageUrl(value)


def url_of_part(part: Part) -> ImageUrl:
    """A form field ``url``: at most ``URL_MAX_LENGTH`` bytes of UTF-8."""
    if part.too_large:
        raise invalid_url(f"longer than {URL_MAX_LENGTH} characters")
    try:
        return image_url(part.data.decode("utf-8"))
    except UnicodeDecodeError:
        raise invalid_url("must be UTF-8 text") from None


async def read_image_or_url(request: Request, settings: Settings) -> Upload | ImageUrl:
    """What /classify was sent: an image (multipart field ``file`` or the raw body) or an image's
    address (JSON ``{"url": ...}`` or multipart field ``url``)."""
    if is_json(request):
        return image_url(only_key(await read_json(request, json_body_bytes(1)), URL_FIELD))
    content_type = request.headers.get("content-type", "")
    if content_type.lower().startswith(("image/", "application/octet-stream")):
        return await read_upload(
            request, settings.max_upload_bytes, settings.max_body_bytes, settings.max_image_pixels
        )
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(
            415,
            "unsupported_media_type",
            "send a JPEG, PNG or WebP as multipart field 'file' or as the body with an image Content-Type, "
            "or its address as JSON {\"url\": ...} or multipart field 'url'",
        )
    body = counted(request, settings.max_body_bytes, too_large(settings.max_upload_bytes))
    parts = await form_parts(
        body, content_type, {"file": settings.max_upload_bytes, URL_FIELD: URL_MAX_LENGTH}
    )
    file, url = parts.get("file"), parts.get(URL_FIELD)
    if file is not None and url is not None:
        raise ApiError(422, "invalid_request", "send the image as 'file' or its address as 'url', not both")
    if url is not None:
        return url_of_part(url)
    if file is None:
        raise ApiError(
            422, "missing_file", "send the image as the multipart field 'file', or its address as 'url'"
        )
    if file.too_large:
        raise too_large(settings.max_upload_bytes)
    return checked_image(file.data, settings.max_upload_bytes, settings.max_image_pixels)
