"""The dHash the review queue groups near-duplicates by: the same frame re-encoded or resized stays
within NEAR_DUPLICATE_BITS, different frames land far apart, and the hash reads images as the stack
does (format by content, a pixel limit)."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from store.perceptual import NEAR_DUPLICATE_BITS, hamming, image_facts


def frame(seed: int, size: tuple[int, int] = (640, 360)) -> Image.Image:
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(image)
    for i in range(6):
        x, y = (seed * 97 + i * 131) % size[0], (seed * 53 + i * 71) % size[1]
        draw.ellipse((x, y, x + size[0] // 4, y + size[1] // 3), fill=((seed * 40 + i * 30) % 256, 90, 200))
    return image


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_a_frame_re_encoded_or_resized_is_a_near_duplicate_and_another_frame_is_not():
    original = image_facts(encoded(frame(1), "PNG"))
    assert (original.width, original.height, len(original.dhash)) == (640, 360, 16)
    for copy in (
        encoded(frame(1), "JPEG", quality=60),
        encoded(frame(1).resize((1280, 720)), "WEBP", quality=80),
        encoded(frame(1).resize((320, 180)), "JPEG", quality=90),
    ):
        assert hamming(original.dhash, image_facts(copy).dhash) <= NEAR_DUPLICATE_BITS
    others = [hamming(original.dhash, image_facts(encoded(frame(seed), "PNG")).dhash) for seed in (2, 3, 4)]
    assert min(others) > 2 * NEAR_DUPLICATE_BITS, others


def test_the_hash_refuses_what_is_not_an_accepted_image_or_has_too_many_pixels():
    with pytest.raises(ValueError, match="not a JPEG"):
        image_facts(encoded(frame(1), "GIF"))
    with pytest.raises(ValueError, match="over the limit"):
        image_facts(encoded(frame(1), "PNG"), max_pixels=640 * 359)


def test_hamming_counts_the_differing_bits():
    assert hamming("0" * 16, "f" * 16) == 64
    assert hamming("00000000000000ff", "000000000000000f") == 4


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_even_a_one_pixel_image_has_a_hash(fmt):
    """Schemathesis found it: a 1x1 JPEG asked Pillow's draft mode for a 0x0 size and divided by zero."""
    facts = image_facts(encoded(Image.new("RGB", (1, 1), (200, 10, 10)), fmt))
    assert (facts.width, facts.height, facts.dhash) == (1, 1, "0" * 16)
