"""Validation and decoding of uploaded images, before any tensor work.

Every check has its own error code and HTTP status, so one bad upload in a batch fails alone with a
message its sender can act on. Content decides the format (magic bytes), never a file name or header.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from inference.answers import HandlerRefusal, Refusal
from inference.formats import DEFAULT_MAX_PIXELS, DEFAULT_MAX_UPLOAD_BYTES, sniff_format
from inference.image_limits import ImageLimitError, check_dimensions, check_structure
from inference.multi_image import MAX_IMAGES, field
from inference.preprocessing import cover_size

# Pixels of the decoded image reduced at a time (_reduced): a band's copies stay a few MB.
_BAND_PIXELS = 1 << 20
_SWAPPING_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations that turn the image a quarter


@dataclass(frozen=True)
class ImageRejectedError(Exception):
    """``message`` is fixed text the client may read; ``detail`` (a library's own words on what it met)
    goes to the log under the request's ID only."""

    status: int
    code: str
    message: str
    detail: str | None = None

    def body(self) -> dict[str, Any]:
        return HandlerRefusal(error=Refusal(code=self.code, message=self.message)).model_dump()

    @classmethod
    def of(cls, refused: ImageLimitError) -> ImageRejectedError:
        """The shared core's refusal (inference.image_limits) as the handler's."""
        return cls(refused.status, refused.code, refused.message)


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


def _reducible_mode(img: Image.Image) -> str:
    """The mode ``img`` is box-filtered in: a palette looked up to the colours it stands for, 16-bit grey
    widened to 32-bit, bilevel to 8-bit grey (each one pass in C); any other mode as it is."""
    if img.mode == "P":
        return "RGBA" if "transparency" in img.info else "RGB"
    if img.mode in ("I;16", "I;16B", "I;16L"):
        return "I"
    return "L" if img.mode == "1" else img.mode


def _reduced(img: Image.Image, target: tuple[int, int], turned: bool) -> Image.Image:
    """Shrunk by the largest whole factor that still covers ``target`` once the EXIF orientation is applied
    (``turned``: it swaps the sides), before any conversion to RGB. PNG and WebP have no draft mode: a large
    one is decoded whole, and converting it whole (alpha, 16-bit, palette) would read every pixel again, at
    up to 4 bytes each. A mode that Pillow copies to reduce (a conversion, or alpha premultiplied) is
    reduced a band at a time, so the copy is a band's, not the frame's: an RGBA PNG at the pixel cap held
    132 MB above idle reduced whole, 74 MB by bands (the decoded frame is 66)."""
    oriented = img.size[::-1] if turned else img.size
    height, width = cover_size(oriented, target)
    if turned:
        height, width = width, height
    factor = min(img.width // width, img.height // height)
    if factor < 2:
        return img
    mode = _reducible_mode(img)
    if mode == img.mode and mode not in ("RGBA", "LA"):
        return img.reduce(factor)
    reduced = Image.new(mode, (-(-img.width // factor), -(-img.height // factor)))
    step = factor * max(1, _BAND_PIXELS // (img.width * factor))  # a multiple of the factor: the blocks
    for top in range(0, img.height, step):  # are those of the image reduced whole, bit for bit
        band = img.crop((0, top, img.width, min(top + step, img.height)))
        reduced.paste((band if band.mode == mode else band.convert(mode)).reduce(factor), (0, top // factor))
    reduced.info = img.info  # the EXIF orientation is applied to the reduced image
    return reduced


def _to_rgb(img: Image.Image, sixteen_bit: bool) -> Image.Image:
    """Any mode screenshots come in -> 8-bit RGB (alpha on black, 16-bit scaled down, CMYK converted).
    ``sixteen_bit``: the decoded frame was 16-bit grey, whatever its values (now mode I)."""
    if img.mode != _reducible_mode(img):
        img = img.convert(_reducible_mode(img))
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

    What decoding would cost is judged first (inference.image_limits: the file's structure before Pillow
    parses it, its size from the header), as the gateway judged it. JPEGs decode in draft mode (the DCT
    scales by 1/2, 1/4 or 1/8 for free), which makes 4K screenshots several times cheaper; PNG and WebP,
    decoded whole, are reduced by a whole factor before any mode conversion or EXIF turn. The result still
    covers the model's input size. For an 8-bit RGB image the order changes nothing.
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
        structure = check_structure(data, fmt)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=[fmt])
            check_dimensions(fmt, *img.size, max_pixels, structure)
            if fmt == "JPEG":
                wanted_h, wanted_w = cover_size(img.size, target)
                img.draft("RGB", (wanted_w, wanted_h))
            img.load()
            sixteen_bit = img.mode.startswith("I;16")
            turned = img.getexif().get(ExifTags.Base.Orientation, 1) in _SWAPPING_ORIENTATIONS
            reduced = _reduced(img, target, turned)
            ImageOps.exif_transpose(reduced, in_place=True)  # a copy otherwise, even when nothing turns
            return _to_rgb(reduced, sixteen_bit)
    except ImageLimitError as refused:
        raise ImageRejectedError.of(refused) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejectedError(
            413, "image_too_large", f"the image has more than {max_pixels} pixels", str(exc)
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejectedError(
            400, "invalid_image", f"the {fmt} image is truncated or corrupt", f"{type(exc).__name__}: {exc}"
        ) from None
