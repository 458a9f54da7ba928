"""Image formats we accept, told by their magic bytes, and the limits on an upload. Dependency-free:
the gateway checks uploads with it as the handler does, so both ends refuse the same ones."""

from __future__ import annotations

# (magic, offset, Pillow format). WebP is accepted on purpose: browsers save screenshots as WebP.
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"WEBP", 8, "WEBP"),  # after "RIFF" and four size bytes
)
ACCEPTED_FORMATS = tuple(fmt for _, _, fmt in _SIGNATURES)
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}

DEFAULT_MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # MAX_UPLOAD_BYTES, the whole stack's one upload limit
# MAX_IMAGE_PIXELS: twice a 4K frame (7680x2160, a dual-4K screenshot). PNG and WebP have no draft mode,
# so each pixel allowed is decoded: at this cap a uniform 100 KB PNG still costs the worker about 0.2 s of
# CPU and 74 MB (RGBA, reduced band by band; benchmarks/studies/decode_cost.py), where 40 MP cost seconds
# and hundreds of MB. Larger is a bomb or not a screenshot. The cap alone does not bound the cost (an
# elongated image, a JPEG's scans, Pillow's WebP decoder): inference.image_limits holds the rest.
DEFAULT_MAX_PIXELS = 2 * 3840 * 2160
# PIXELS_PER_UNIT: a request costs one rate-limit unit per this many pixels, started (the gateway reads
# the size from the image's header): a 4K screenshot or smaller costs one, an image at the cap two.
DEFAULT_PIXELS_PER_UNIT = 3840 * 2160
# The public API's 429 for a request that costs more units than a limit's whole window: waiting never
# lets it through, so a client must not retry it (the gateway sends it; the folder CLI fails the batch).
COST_EXCEEDS_LIMIT = "cost_exceeds_limit"
# The 429 of an API key whose rolling daily quota is spent: its Retry-After may be hours away, so the
# folder CLI stops instead of waiting (gateway.key_limits sends it).
QUOTA_EXHAUSTED = "quota_exhausted"
MULTIPART_OVERHEAD = 64 * 1024  # room for multipart headers and boundaries around the image
# BATCH_MAX_FILES: images in one POST /api/v1/classify/batch.
DEFAULT_BATCH_MAX_FILES = 16
# A batch's body may hold this many MAX_UPLOAD_BYTES (a 16-file batch of typical 1 MB screenshots fits):
# nginx's limit on /api/v1/classify/batch and the gateway's, both from MAX_UPLOAD_BYTES. It is also the
# share of the gateway's in-flight cap a batch takes (gateway.in_flight), so that the memory a worker
# may hold stays MAX_IN_FLIGHT uploads' worth.
BATCH_UPLOADS = 4


def batch_body_bytes(max_upload_bytes: int) -> int:
    """The most a batch's request body may weigh, images and multipart framing together."""
    return BATCH_UPLOADS * max_upload_bytes + MULTIPART_OVERHEAD


def sniff_format(data: bytes | bytearray) -> str | None:
    for magic, offset, fmt in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic and (fmt != "WEBP" or data[:4] == b"RIFF"):
            return fmt
    return None
