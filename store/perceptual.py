"""The difference hash (dHash) of a shared screenshot, with Pillow alone (the gateway's image has no
numpy), and the Hamming distance the review queue groups near-duplicates by: two crops or
re-encodings of one frame differ in a few of the 64 bits, different frames in about half.

The image is opened with the format its bytes name (inference.formats) and a pixel limit, like every
image the stack opens; a JPEG is decoded in draft mode at an eighth of its size, which is plenty for a
9x8 thumbnail (Pillow's draft decoded a 4K frame in about 17 ms instead of 83).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from inference.formats import DEFAULT_MAX_PIXELS, sniff_format

HASH_SIZE = 8  # 8 rows of 8 differences: 64 bits, 16 hex digits
NEAR_DUPLICATE_BITS = 6  # at most this many bits apart: the same screenshot, cropped or re-encoded


@dataclass(frozen=True)
class ImageFacts:
    width: int
    height: int
    dhash: str


def dhash(image: Image.Image) -> str:
    """Each row of a 9x8 greyscale thumbnail: 1 where a pixel is brighter than its right neighbour."""
    small = image.convert("L").resize((HASH_SIZE + 1, HASH_SIZE), Image.Resampling.LANCZOS)
    pixels = small.tobytes()  # "L": one byte a pixel, row by row
    bits = 0
    for row in range(HASH_SIZE):
        start = row * (HASH_SIZE + 1)
        for col in range(HASH_SIZE):
            bits = (bits << 1) | (pixels[start + col] > pixels[start + col + 1])
    return f"{bits:0{HASH_SIZE * HASH_SIZE // 4}x}"


def image_facts(data: bytes | bytearray, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageFacts:
    """Width, height and dHash of an image the caller has already checked (format and pixel limit)."""
    fmt = sniff_format(data)
    if fmt is None:
        raise ValueError("not a JPEG, PNG or WebP image")
    with Image.open(io.BytesIO(data), formats=[fmt]) as image:
        width, height = image.size
        if width * height > max_pixels:
            raise ValueError(f"{width}x{height} pixels is over the limit of {max_pixels}")
        image.draft("L", (max(1, width // 8), max(1, height // 8)))  # JPEG only; the others ignore it
        return ImageFacts(width, height, dhash(image))


def hamming(a: str, b: str) -> int:
    """How many of two hashes' bits differ."""
    return (int(a, 16) ^ int(b, 16)).bit_count()
