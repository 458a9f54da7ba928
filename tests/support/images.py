"""Small PNG files of any size, written chunk by chunk without ever holding the frame: what an attacker
sends (a few kilobytes that decode to tens or hundreds of megabytes), made in milliseconds."""

from __future__ import annotations

import zlib

# PNG colour types and bit depths, by the Pillow mode a decoder gives for them.
KINDS = {
    "L": (0, 8, 1),  # grey, 8-bit: (colour type, bit depth, bytes per pixel)
    "I;16": (0, 16, 2),  # grey, 16-bit
    "RGB": (2, 8, 3),
    "RGBA": (6, 8, 4),
}


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + kind + payload + zlib.crc32(kind + payload).to_bytes(4, "big")


def uniform_png(width: int, height: int, mode: str, pixel: bytes | None = None) -> bytes:
    """A ``width`` x ``height`` PNG whose every pixel is ``pixel`` (the mode's bytes, big-endian; zeros by
    default): a 6000x6000 one is about 100 KB."""
    colour, depth, size = KINDS[mode]
    pixel = pixel if pixel is not None else bytes(size)
    assert len(pixel) == size, f"{mode} takes {size} bytes per pixel"
    row = b"\x00" + pixel * width  # filter type 0, then the row
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([depth, colour, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")
