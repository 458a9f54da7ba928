"""Validation and decoding of uploaded images, before any tensor work.

Every check has its own error code and HTTP status, so one bad upload in a batch fails alone with a
message its sender can act on. Content decides the format (magic bytes), never a file name or header.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from inference.formats import DEFAULT_MAX_PIXELS, DEFAULT_MAX_UPLOAD_BYTES, sniff_format
from inference.multi_image import MAX_IMAGES, field
from inference.preprocessing import cover_size


@dataclass(frozen=True)
class ImageRejectedError(Exception):
    """``message`` is fixed text the client may read; ``detail`` (a library's own words on what it met)
    goes to the log under the request's ID only."""

    status: int
    code: str
    message: str
    detail: str | None = None

    def body(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


def payload_bytes(entry: object) -> bytes | bytearray:
    """The raw image of one TorchServe request entry (raw body or multipart field ``file``).

    TorchServe hands over bytes for image and octet-stream bodies, ``str`` for text and already parsed
    objects for JSON: anything but bytes is the wrong media type.
    """
    value = entry
    if isinstance(entry, dict):
        value = next((entry[k] for k in ("data", "body", "file") if entry.get(k) is not None), b"")
    if isinstance(value, bytes | bytearray):
        return value
    raise ImageRejectedError(415, "unsupported_media_type", "send the image bytes with an image Content-Type")


def request_images(entry: object, count: str | None) -> list[object]:
    """The images of a multi-image request (inference.multi_image), in order: what each of its fields
    holds, for ``payload_bytes`` to check one by one. ``count``: the request's own count header."""
    if count is None or not count.isdigit() or not 1 <= int(count) <= MAX_IMAGES:
        raise ImageRejectedError(400, "invalid_request", f"the image count must be 1 to {MAX_IMAGES}")
    fields = entry if isinstance(entry, dict) else {}
    return [fields.get(field(index), b"") for index in range(int(count))]


def _reducible(img: Image.Image) -> Image.Image:
    """``img`` in a mode Pillow can box-filter: a palette looked up to the colours it stands for, 16-bit
    grey widened to 32-bit, bilevel to 8-bit grey (each one pass in C); any other mode as it is."""
    if img.mode == "P":
        return img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("I;16", "I;16B", "I;16L"):
        return img.convert("I")
    return img.convert("L") if img.mode == "1" else img


def _reduced(img: Image.Image, target: tuple[int, int]) -> Image.Image:
    """Shrunk by the largest whole factor that still covers ``target``, before any conversion to RGB.
    PNG and WebP have no draft mode: a large one is decoded whole, and the conversions that follow
    (alpha, 16-bit, palette) would otherwise read every pixel of it again, several bytes each."""
    height, width = cover_size(img.size, target)
    factor = min(img.width // width, img.height // height)
    return _reducible(img).reduce(factor) if factor >= 2 else img


def _to_rgb(img: Image.Image, sixteen_bit: bool) -> Image.Image:
    """Any mode screenshots come in -> 8-bit RGB (alpha on black, 16-bit scaled down, CMYK converted).
    ``sixteen_bit``: the decoded frame was 16-bit grey, whatever its values (now mode I)."""
    img = _reducible(img)
    if img.mode == "I":
        wide = np.asarray(img, dtype=np.uint32)
        scale = 257 if sixteen_bit or wide.max() > 255 else 1
        img = Image.fromarray((wide // scale).clip(0, 255).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        rgba = img if img.mode == "RGBA" else img.convert("RGBA")
        if rgba.getchannel("A").getextrema()[0] == 255:  # fully opaque, as screenshots nearly always are
            return rgba.convert("RGB")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB") if img.mode != "RGB" else img


def decode_image(
    data: bytes | bytearray,
    target: tuple[int, int],
    max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """Validate and decode one upload to RGB, as small as it can be while still covering ``target``.

    JPEGs decode in draft mode (the DCT scales by 1/2, 1/4 or 1/8 for free), which makes 4K
    screenshots several times cheaper; PNG and WebP, decoded whole, are reduced by a whole factor before
    any mode conversion. The result still covers the model's input size. For an 8-bit RGB image the order
    changes nothing: it needs no conversion.
    """
    if not data:
        raise ImageRejectedError(400, "empty_payload", "the request carried no image")
    if len(data) > max_bytes:
        raise ImageRejectedError(
            413, "payload_too_large", f"the image is {len(data)} bytes; the limit is {max_bytes}"
        )
    fmt = sniff_format(data)
    if fmt is None:
        raise ImageRejectedError(415, "unsupported_media_type", "not a JPEG, PNG or WebP image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=[fmt])
            width, height = img.size
            if width * height > max_pixels:
                raise ImageRejectedError(
                    413, "image_too_large", f"{width}x{height} pixels is over the limit of {max_pixels}"
                )
            if fmt == "JPEG":
                wanted_h, wanted_w = cover_size(img.size, target)
                img.draft("RGB", (wanted_w, wanted_h))
            img.load()
            ImageOps.exif_transpose(img, in_place=True)  # a copy otherwise, even when nothing turns
            sixteen_bit = img.mode.startswith("I;16")
            return _to_rgb(_reduced(img, target), sixteen_bit)
    except ImageRejectedError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejectedError(
            413, "image_too_large", f"the image has more than {max_pixels} pixels", str(exc)
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejectedError(
            400, "invalid_image", f"the {fmt} image is truncated or corrupt", f"{type(exc).__name__}: {exc}"
        ) from None
