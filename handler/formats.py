"""Image formats we accept, told by their magic bytes. Dependency-free: the gateway imports it too, so
both ends refuse the same uploads."""

from __future__ import annotations

# (magic, offset, Pillow format). WebP is accepted on purpose: browsers save screenshots as WebP.
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"WEBP", 8, "WEBP"),  # after "RIFF" and four size bytes
)
ACCEPTED_FORMATS = tuple(fmt for _, _, fmt in _SIGNATURES)


def sniff_format(data: bytes | bytearray) -> str | None:
    for magic, offset, fmt in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic and (fmt != "WEBP" or data[:4] == b"RIFF"):
            return fmt
    return None
