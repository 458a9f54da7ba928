"""Images built to cost a decoder the most for their bytes, made in milliseconds without ever holding the
frame: what an attacker sends. The tests send them to prove the limits (inference.image_limits) and
benchmarks.studies.decode_cost measures what the worst accepted ones cost the worker."""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Callable

from PIL import Image

# PNG colour types and bit depths, by the Pillow mode a decoder gives for them.
KINDS = {
    "L": (0, 8, 1),  # grey, 8-bit: (colour type, bit depth, bytes per pixel)
    "I;16": (0, 16, 2),  # grey, 16-bit
    "RGB": (2, 8, 3),
    "LA": (4, 8, 2),
    "RGBA": (6, 8, 4),
    "RGBA;16": (6, 16, 8),  # decoded to 8-bit RGBA
}
HALF_TRANSPARENT = bytes([200, 30, 30, 128])
_SOS = re.compile(rb"\xff\xda")
_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")  # where a scan's entropy-coded data ends


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + kind + payload + zlib.crc32(kind + payload).to_bytes(4, "big")


def uniform_png(
    width: int, height: int, mode: str, pixel: bytes | None = None, extra_chunks: bytes = b""
) -> bytes:
    """A ``width`` x ``height`` PNG whose every pixel is ``pixel`` (the mode's bytes, big-endian; zeros by
    default): a 6000x6000 one is about 100 KB. ``extra_chunks`` go before the image data."""
    colour, depth, size = KINDS[mode]
    pixel = pixel if pixel is not None else bytes(size)
    assert len(pixel) == size, f"{mode} takes {size} bytes per pixel"
    row = b"\x00" + pixel * width  # filter type 0, then the row
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([depth, colour, 0, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + extra_chunks
        + png_chunk(b"IDAT", data)
        + png_chunk(b"IEND", b"")
    )


def exif_orientation(orientation: int) -> bytes:
    """A little-endian TIFF block holding only an EXIF orientation (PNG's eXIf chunk, after ``Exif\\0\\0``
    in a JPEG's APP1)."""
    entry = (0x0112).to_bytes(2, "little") + (3).to_bytes(2, "little") + (1).to_bytes(4, "little")
    return (
        b"II*\x00"
        + (8).to_bytes(4, "little")
        + (1).to_bytes(2, "little")
        + entry
        + orientation.to_bytes(4, "little")
        + bytes(4)
    )


def palette_png(width: int, height: int) -> bytes:
    """A palette PNG with a transparent colour: decoded to 1 byte a pixel, converted to 4."""
    image = Image.new("P", (width, height), 1)
    image.putpalette([0, 0, 0, 250, 10, 10])
    buffer = io.BytesIO()
    image.save(buffer, "PNG", transparency=1)
    return buffer.getvalue()


def webp(width: int, height: int, lossless: bool) -> bytes:
    """A uniform WebP, half transparent when lossless: a few hundred bytes, or tens of KB lossy."""
    image = (
        Image.new("RGBA", (width, height), (200, 30, 30, 128))
        if lossless
        else Image.new("RGB", (width, height), (200, 30, 30))
    )
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", lossless=lossless, quality=80)
    return buffer.getvalue()


def progressive_jpeg(width: int, height: int, scans: int, mode: str = "RGB", subsampling: int = 0) -> bytes:
    """A uniform progressive JPEG of ``scans`` scans: libjpeg's own progression (10 scans, 18 for CMYK) and
    copies of its first AC refinement scan, the dearest kind for its bytes: 31 bytes, and a pass over every
    coefficient of every block of its component (11.5 ms at the pixel cap). ``subsampling`` as Pillow's
    (0: 4:4:4, 2: 4:2:0)."""
    buffer = io.BytesIO()
    Image.new(mode, (width, height), (200, 30, 30) if mode == "RGB" else (10, 200, 30, 5)).save(
        buffer, "JPEG", quality=90, progressive=True, subsampling=subsampling
    )
    data = buffer.getvalue()
    starts = [m.start() for m in _SOS.finditer(data)]
    if scans < len(starts):
        raise ValueError(f"libjpeg's progression alone has {len(starts)} scans")
    headers_end = [at + 2 + int.from_bytes(data[at + 2 : at + 4], "big") for at in starts]
    ends = [found.start() for at in headers_end if (found := _MARKER.search(data, at))]  # each scan's end
    for index, at in enumerate(starts):
        components = data[at + 4]
        ss, ah = data[at + 5 + 2 * components], data[at + 7 + 2 * components] >> 4
        if ss > 0 and ah > 0:  # an AC refinement, with the Huffman table before it
            piece = data[ends[index - 1] : ends[index]]
            break
    extra = piece * (scans - len(starts))
    return data[:-2] + extra + data[-2:]


def jpeg(width: int, height: int, mode: str = "RGB", subsampling: int = 0) -> bytes:
    """A uniform baseline JPEG (one scan)."""
    buffer = io.BytesIO()
    Image.new(mode, (width, height), (200, 30, 30)).save(buffer, "JPEG", quality=90, subsampling=subsampling)
    return buffer.getvalue()


def photoshop_segment() -> bytes:
    """An APP13 segment of 64 KB packed with empty Photoshop resources, each a loop of Pillow's."""
    resource = b"8BIM" + (0x0400).to_bytes(2, "big") + bytes(6)  # id, empty name, size 0
    payload = b"Photoshop 3.0\x00" + resource * (65519 // len(resource))
    return b"\xff\xed" + (len(payload) + 2).to_bytes(2, "big") + payload


def with_segments(data: bytes, segments: bytes) -> bytes:
    """A JPEG with ``segments`` (whole marker segments, or stray bytes) inserted after its first segment,
    where Pillow parses the header."""
    first_end = 4 + int.from_bytes(data[4:6], "big")
    return data[:first_end] + segments + data[first_end:]


DUAL_4K, WIDE, TALL = (7680, 2160), (11520, 1440), (1440, 11520)  # the pixel cap; at 8:1 and 1:8
WEBP_MOST = (3232, 1818)  # about the most pixels a WebP may have (inference.image_limits)
JUNK = b"\xff\xfe\x00\x02"  # an empty comment segment

# The worst images the limits accept, by what makes each costly: the most pixels, the most bytes a pixel,
# the most scans, a turn; each under 300 KB.
WORST_ACCEPTED: dict[str, Callable[[], bytes]] = {
    "PNG RGBA, half transparent, 7680x2160": lambda: uniform_png(*DUAL_4K, "RGBA", HALF_TRANSPARENT),
    "PNG RGBA, half transparent, 11520x1440": lambda: uniform_png(*WIDE, "RGBA", HALF_TRANSPARENT),
    "PNG RGBA, half transparent, 1440x11520": lambda: uniform_png(*TALL, "RGBA", HALF_TRANSPARENT),
    "PNG RGBA 16-bit, 7680x2160": lambda: uniform_png(
        *DUAL_4K, "RGBA;16", bytes([200, 0, 30, 0, 30, 0, 128, 0])
    ),
    "PNG grey and alpha, 7680x2160": lambda: uniform_png(*DUAL_4K, "LA", bytes([100, 128])),
    "PNG palette, a transparent colour, 7680x2160": lambda: palette_png(*DUAL_4K),
    "PNG 16-bit grey, 7680x2160": lambda: uniform_png(*DUAL_4K, "I;16", (30000).to_bytes(2, "big")),
    "PNG RGBA, EXIF-turned, 7680x2160": lambda: uniform_png(
        *DUAL_4K, "RGBA", HALF_TRANSPARENT, png_chunk(b"eXIf", exif_orientation(6))
    ),
    "JPEG progressive 4:4:4, 32 scans, 7680x2160": lambda: progressive_jpeg(*DUAL_4K, 32),
    "JPEG progressive 4:4:4, 32 scans, 1440x11520": lambda: progressive_jpeg(*TALL, 32),
    "JPEG progressive CMYK, 32 scans, 6650x1870": lambda: progressive_jpeg(6650, 1870, 32, "CMYK"),
    "JPEG baseline 4:4:4, 11520x1440": lambda: jpeg(*WIDE),
    "WebP lossless RGBA, 3232x1818": lambda: webp(*WEBP_MOST, lossless=True),
    "WebP lossy, 3232x1818": lambda: webp(*WEBP_MOST, lossless=False),
    "WebP lossless RGBA, 6800x850": lambda: webp(6800, 850, lossless=True),
}

# Images the limits refuse from their header, with the status and code each gets: the probes
# and the other shapes that cost a worker seconds or hundreds of MB before them.
REFUSED: dict[str, tuple[Callable[[], bytes], int, str]] = {
    "PNG 16588800x1": (lambda: uniform_png(16588800, 1, "RGB"), 422, "unsupported_aspect_ratio"),
    "PNG 259200x64": (lambda: uniform_png(259200, 64, "RGB"), 422, "unsupported_aspect_ratio"),
    "PNG 518400x32": (lambda: uniform_png(518400, 32, "RGB"), 422, "unsupported_aspect_ratio"),
    "JPEG of 4000 scans": (lambda: progressive_jpeg(*DUAL_4K, 4000), 422, "image_too_complex"),
    "JPEG of 1.25M header segments": (
        lambda: with_segments(jpeg(64, 64), JUNK * 1_250_000),
        422,
        "image_too_complex",
    ),
    "JPEG of 76 Photoshop segments": (
        lambda: with_segments(jpeg(64, 64), photoshop_segment() * 76),
        422,
        "image_too_complex",
    ),
    "JPEG of 5 MB of fill bytes": (
        lambda: with_segments(jpeg(64, 64), b"\xff" * 5_000_000),
        422,
        "image_too_complex",
    ),
    "PNG of 400k chunks": (
        lambda: uniform_png(64, 64, "RGB", extra_chunks=png_chunk(b"abCd", b"") * 400_000),
        422,
        "image_too_complex",
    ),
    "PNG of 60 zTXt chunks": (
        lambda: uniform_png(
            64, 64, "RGB", extra_chunks=png_chunk(b"zTXt", b"k\0\0" + zlib.compress(b"a" * 10**6, 9)) * 60
        ),
        422,
        "image_too_complex",
    ),
    "WebP at the pixel cap": (lambda: webp(*DUAL_4K, lossless=True), 413, "image_too_large"),
    "JPEG progressive CMYK at the pixel cap": (
        lambda: progressive_jpeg(*DUAL_4K, 18, "CMYK"),
        413,
        "image_too_large",
    ),
}
