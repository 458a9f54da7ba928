"""What an upload may cost to decode, judged before any pixel is: one rule that the gateway applies before
it asks TorchServe and the handler applies again before it decodes, each mapping ``ImageLimitError`` to
its own error type. Dependency-free (the gateway's image has no numpy).

The pixel cap (inference.formats) alone did not bound the cost. Measured on the worker with the handler's
decode and eval transform (benchmarks/studies/decode_cost.py):
- A 48 KB PNG of 16588800x1 held it 10.9 s and one of 518400x32 peaked at 2.85 GB: the resize to cover
  the model's input grows with the aspect ratio. ``MAX_ASPECT`` bounds it.
- Each scan of a progressive JPEG is a pass over every block, up to 11.5 ms at the cap (a refinement
  scan, a few bytes long): 5 MB hold minutes of them. ``MAX_JPEG_SCANS`` bounds it. A JPEG of several
  scans is decoded through a buffer of every coefficient (2 bytes a sample, draft mode does not help):
  ``DECODE_BUDGET`` bounds it.
- Pillow reads a JPEG's header segments and a PNG's chunks in Python, one loop per segment, chunk, stray
  byte or Photoshop resource: 5 MB of them held it 1 to 1.5 s. ``MAX_JPEG_SEGMENTS``,
  ``MAX_JPEG_STRAY_BYTES``, ``MAX_JPEG_PHOTOSHOP_SEGMENTS`` and ``MAX_PNG_CHUNKS`` bound it;
  ``MAX_PNG_INFLATED_CHUNKS`` bounds the text it inflates (a 63 KB PNG of zTXt chunks took 0.46 s and
  62 MB before its first pixel).
- Pillow's WebP decoder holds four frames' worth (two canvases, a copy and the image, 16 bytes a pixel):
  255 MB at the cap. ``DECODE_BUDGET`` bounds it.
So the structure is walked first (``check_structure``, before Pillow opens the file), then the size read
from the header is judged with what the walk found (``check_dimensions``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Long side over short side. Screenshots are 16:9 to 32:9 (a dual-4K 7680x2160 is 3.6:1; three 21:9
# screens side by side 7.2:1); the 118 real ones are at most 2.35:1. The resize to cover the model's input
# then yields at most 8 times its side, whatever the image.
MAX_ASPECT = 8
# Bytes a decoder may hold for one image beyond the handler's own: a 4:4:4 progressive JPEG at the pixel
# cap needs 99.5 MB of coefficients and passes; the worker's figure is about 100 MB above idle.
DECODE_BUDGET = 100_000_000
WEBP_BYTES_PER_PIXEL = 17  # Pillow's WebP decoder, measured: 255 MB at the cap, 16.1 a pixel
COEFFICIENT_BYTES = 2  # per sample of a JPEG of several scans: libjpeg keeps every coefficient
# libjpeg's own simple progression writes 10 scans (YCbCr) or 18 (CMYK); at 11.5 ms a scan at the cap, 32
# add at most 0.37 s.
MAX_JPEG_SCANS = 32
# Marker segments of a JPEG, scans included: an APPn, ICC or XMP chunk of 64 KB each fill 5 MB with 80;
# Pillow then parses the header in about a millisecond.
MAX_JPEG_SEGMENTS = 1024
# APP13 segments, whose Photoshop resources Pillow reads in Python: 64 KB of empty ones took 20 ms.
MAX_JPEG_PHOTOSHOP_SEGMENTS = 4
MAX_JPEG_STRAY_BYTES = 4096  # fill or junk between segments: Pillow skips each in Python
# PNG chunks: libpng's 8 KB IDAT chunks fill 5 MB with 640; Pillow reads 8192 in about 20 ms.
MAX_PNG_CHUNKS = 8192
MAX_PNG_INFLATED_CHUNKS = 8  # zTXt, compressed iTXt, iCCP: Pillow inflates each to as much as 1 MB

_ENTROPY_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")  # a marker: not stuffing (FF00), RSTn or fill
_FILL = re.compile(rb"\xff+")
_NO_LENGTH = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: markers without a segment
_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # SOFn; C4 DHT, C8 JPG, CC DAC are not


@dataclass(frozen=True)
class ImageLimitError(Exception):
    """An image refused for what it would cost; the gateway and the handler map it to their own errors."""

    status: int
    code: str
    message: str


@dataclass(frozen=True)
class Structure:
    """What walking the file found, for ``check_dimensions``: its scans and, for a JPEG, each component's
    (horizontal, vertical) sampling factors."""

    scans: int = 1
    sampling: tuple[tuple[int, int], ...] = ()


def too_complex(message: str) -> ImageLimitError:
    return ImageLimitError(422, "image_too_complex", message)


def check_structure(data: bytes | bytearray, fmt: str) -> Structure:
    """Walk a JPEG's segments or a PNG's chunks (WebP has nothing to walk) and refuse the file when
    decoding it would loop too often; return what ``check_dimensions`` needs. A malformed file is left
    to the decoder, which refuses it in its own words."""
    if fmt == "JPEG":
        return _jpeg_structure(data)
    if fmt == "PNG":
        _check_png_chunks(data)
    return Structure()


def check_dimensions(fmt: str, width: int, height: int, max_pixels: int, structure: Structure) -> None:
    """Refuse an image whose size, read from its header, costs more than the limits allow."""
    if width * height > max_pixels:
        raise ImageLimitError(
            413, "image_too_large", f"{width}x{height} pixels is over the limit of {max_pixels}"
        )
    check_aspect(width, height)
    if fmt == "WEBP" and width * height * WEBP_BYTES_PER_PIXEL > DECODE_BUDGET:
        raise ImageLimitError(
            413,
            "image_too_large",
            f"a WebP image may have at most {DECODE_BUDGET // WEBP_BYTES_PER_PIXEL} pixels; "
            f"{width}x{height} is more: send it as PNG or JPEG",
        )
    held = coefficient_bytes(width, height, structure.sampling) if structure.scans > 1 else 0
    if held > DECODE_BUDGET:
        raise ImageLimitError(
            413,
            "image_too_large",
            f"a JPEG of several scans is decoded whole: {width}x{height} in {len(structure.sampling)} "
            f"components needs {held // 1_000_000} MB, more than {DECODE_BUDGET // 1_000_000}",
        )


def check_aspect(width: int, height: int) -> None:
    """Refuse a side more than ``MAX_ASPECT`` times the other: what bounds every size derived from the
    image's (the resize to cover the model's input, the lines the border trim reads)."""
    if min(width, height) < 1 or max(width, height) > MAX_ASPECT * min(width, height):
        raise ImageLimitError(
            422,
            "unsupported_aspect_ratio",
            f"{width}x{height} has one side more than {MAX_ASPECT} times the other; crop it to the game",
        )


def coefficient_bytes(width: int, height: int, sampling: tuple[tuple[int, int], ...]) -> int:
    """What libjpeg holds to decode a JPEG of several scans: every block of every component, in whole
    MCUs, at 64 coefficients of 2 bytes."""
    if not sampling:
        return 0
    h_max, v_max = max(h for h, _ in sampling), max(v for _, v in sampling)
    mcus = -(-width // (8 * h_max)) * -(-height // (8 * v_max))
    return sum(mcus * h * v for h, v in sampling) * 64 * COEFFICIENT_BYTES


def _jpeg_structure(data: bytes | bytearray) -> Structure:
    """Segment by segment, each skipped by its length (an EXIF thumbnail's markers are not counted), and a
    scan's entropy-coded data skipped by a regular expression to the next marker (linear, in C: stuffed
    0xFF00 and restart markers belong to the data)."""
    scans = segments = stray = photoshop = 0
    sampling: tuple[tuple[int, int], ...] = ()
    position, end = 2, len(data)  # after SOI
    while position < end:
        if data[position] != 0xFF:  # junk before a marker (after a scan, the search lands on one)
            found = data.find(b"\xff", position)
            stray += (found if found >= 0 else end) - position
            position = found if found >= 0 else end
            continue
        fill = _FILL.match(data, position)
        marker_at = fill.end() if fill else position + 1
        stray += marker_at - position - 1
        if stray > MAX_JPEG_STRAY_BYTES:
            raise too_complex(
                f"the JPEG image has stray bytes between its segments; at most {MAX_JPEG_STRAY_BYTES}"
            )
        if marker_at >= end:
            break
        marker, position = data[marker_at], marker_at + 1
        if marker == 0xD9:  # EOI
            break
        if marker == 0x00:  # a stuffed byte outside a scan: junk
            stray += 2
            continue
        if marker in _NO_LENGTH:
            continue
        segments += 1
        if segments > MAX_JPEG_SEGMENTS:
            raise too_complex(f"the JPEG image has more than {MAX_JPEG_SEGMENTS} segments")
        photoshop += marker == 0xED
        if photoshop > MAX_JPEG_PHOTOSHOP_SEGMENTS:
            raise too_complex(
                f"the JPEG image has more than {MAX_JPEG_PHOTOSHOP_SEGMENTS} Photoshop segments"
            )
        length = int.from_bytes(data[position : position + 2], "big")
        if length < 2:  # malformed: the decoder says so
            break
        if marker in _FRAMES and not sampling:
            sampling = _frame_sampling(data[position + 2 : position + length])
        position += length
        if marker == 0xDA:  # SOS: its header, then entropy-coded data up to the next marker
            scans += 1
            if scans > MAX_JPEG_SCANS:
                raise too_complex(f"the JPEG image has more than {MAX_JPEG_SCANS} scans")
            marker_found = _ENTROPY_END.search(data, position)
            position = marker_found.start() if marker_found else end
    return Structure(scans=scans, sampling=sampling)


def _frame_sampling(frame: bytes | bytearray) -> tuple[tuple[int, int], ...]:
    """Each component's sampling factors from a SOFn segment's body (precision, height, width, count,
    then three bytes a component: id, factors, table)."""
    count = frame[5] if len(frame) > 5 else 0
    factors = frame[6 : 6 + 3 * count]
    pairs = (factors[i + 1] for i in range(0, len(factors) - 2, 3))
    return tuple((max(1, f >> 4), max(1, f & 0x0F)) for f in pairs)  # 0 is malformed: the decoder says so


def _check_png_chunks(data: bytes | bytearray) -> None:
    """Count the chunks (a header of 8 bytes each, then the length it gives and a CRC) and those Pillow
    inflates."""
    chunks = inflated = 0
    position, end = 8, len(data)  # after the signature
    while position + 8 <= end:
        length = int.from_bytes(data[position : position + 4], "big")
        kind = bytes(data[position + 4 : position + 8])
        chunks += 1
        if chunks > MAX_PNG_CHUNKS:
            raise too_complex(f"the PNG image has more than {MAX_PNG_CHUNKS} chunks")
        if kind in (b"zTXt", b"iCCP") or (kind == b"iTXt" and _compressed_itxt(data, position + 8, length)):
            inflated += 1
            if inflated > MAX_PNG_INFLATED_CHUNKS:
                raise too_complex(
                    f"the PNG image has more than {MAX_PNG_INFLATED_CHUNKS} compressed text chunks"
                )
        if kind == b"IEND":
            return
        position += 12 + length


def _compressed_itxt(data: bytes | bytearray, start: int, length: int) -> bool:
    """An iTXt chunk's compression flag: the byte after its keyword (79 bytes at most) and its NUL."""
    nul = data.find(b"\x00", start, start + min(length, 80))
    return nul >= 0 and nul + 1 < start + length and data[nul + 1] == 1
