"""What an image costs the worker to decode: a few kilobytes that would decode to hundreds of megabytes
are refused from their header, the largest allowed are reduced before any mode conversion, and an
ordinary 8-bit RGB upload decodes to exactly the pixels it always did."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from handler.image_decode import ImageRejectedError, decode_image
from inference.formats import DEFAULT_MAX_PIXELS
from tests.support.images import uniform_png

TARGET = (224, 398)  # (height, width) a model input is resized to cover
HALF_TRANSPARENT = bytes([200, 30, 30, 128])
SIXTEEN_BIT_GREY = (30000).to_bytes(2, "big")
LARGEST = (7680, 2160)  # twice a 4K frame: the most pixels an upload may have


def timed_decode(data: bytes, **kwargs: object) -> tuple[Image.Image | ImageRejectedError, float]:
    started = time.perf_counter()
    try:
        outcome: Image.Image | ImageRejectedError = decode_image(data, TARGET, **kwargs)  # type: ignore[arg-type]
    except ImageRejectedError as rejected:
        outcome = rejected
    return outcome, time.perf_counter() - started


def test_the_pixel_limit_is_twice_a_4k_frame():
    assert DEFAULT_MAX_PIXELS == LARGEST[0] * LARGEST[1] == 2 * 3840 * 2160


@pytest.mark.parametrize(("mode", "pixel"), [("I;16", SIXTEEN_BIT_GREY), ("RGBA", HALF_TRANSPARENT)])
def test_a_uniform_6000x6000_png_is_refused_from_its_header_at_once(mode, pixel):
    data = uniform_png(6000, 6000, mode, pixel)
    assert len(data) < 200_000  # a small upload that decodes to 72 or 144 MB
    outcome, seconds = timed_decode(data)
    assert isinstance(outcome, ImageRejectedError)
    assert (outcome.status, outcome.code) == (413, "image_too_large")
    assert seconds < 0.1


@pytest.mark.parametrize(("mode", "pixel"), [("I;16", SIXTEEN_BIT_GREY), ("RGBA", HALF_TRANSPARENT)])
def test_the_largest_allowed_png_is_reduced_before_its_conversion_within_a_second(mode, pixel):
    outcome, seconds = timed_decode(uniform_png(*LARGEST, mode, pixel))
    assert isinstance(outcome, Image.Image)
    assert outcome.mode == "RGB"
    assert outcome.width < LARGEST[0] // 4  # reduced, and still covering the model's input
    assert outcome.height >= TARGET[0]
    assert seconds < 1.0


def test_a_large_8_bit_rgb_png_decodes_to_exactly_its_full_frame_reduced():
    """The order of reduction and conversion changes nothing for what nearly every upload is."""
    pixels = np.random.default_rng(0).integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=1)
    decoded = decode_image(buffer.getvalue(), TARGET, max_bytes=10**8)
    assert np.array_equal(np.asarray(decoded), np.asarray(Image.fromarray(pixels).reduce(4)))


def test_a_half_transparent_png_reduced_first_stays_close_to_compositing_the_whole_frame():
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 256, (1080, 1920, 4), dtype=np.uint8)
    rgba[..., 3] = np.where(rng.random((1080, 1920)) < 0.5, 255, 64)
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, "PNG", compress_level=1)
    black = Image.new("RGBA", (1920, 1080), (0, 0, 0, 255))
    whole = Image.alpha_composite(black, Image.fromarray(rgba, "RGBA"))
    expected = np.asarray(whole.convert("RGB").reduce(4), dtype=np.float32)
    decoded = np.asarray(decode_image(buffer.getvalue(), TARGET, max_bytes=10**8), dtype=np.float32)
    assert float(np.abs(decoded - expected).mean()) < 2.0  # of 255


@pytest.mark.parametrize("size", [(640, 360), (3840, 2160)])
def test_16_bit_grey_is_scaled_down_by_its_depth_whether_or_not_it_is_reduced(size: tuple[int, int]):
    """A dark 16-bit frame stays dark: its values are read as 16-bit even once widened to reduce it."""
    decoded = decode_image(uniform_png(*size, "I;16", (200 * 257).to_bytes(2, "big")), TARGET)
    assert decoded.getextrema() == ((200, 200),) * 3
    dark = decode_image(uniform_png(*size, "I;16", (255).to_bytes(2, "big")), TARGET)
    assert dark.getextrema() == ((0, 0),) * 3


@pytest.mark.parametrize("size", [(640, 360), (3840, 2160)])
def test_a_palette_png_with_a_transparent_colour_is_put_on_black(size):
    image = Image.new("P", size, 1)
    image.putpalette([0, 0, 0, 250, 10, 10])
    buffer = io.BytesIO()
    image.save(buffer, "PNG", transparency=1)
    assert decode_image(buffer.getvalue(), TARGET).getextrema() == ((0, 0),) * 3


CORRUPT = "the PNG image is truncated or corrupt"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>", CORRUPT),
        (uniform_png(640, 360, "RGB")[:-40], CORRUPT),
        (uniform_png(6000, 6000, "L"), f"the image has more than {DEFAULT_MAX_PIXELS} pixels"),
    ],
    ids=["not-a-png", "truncated", "pillow-bomb-check"],
)
def test_a_refusal_tells_the_client_fixed_words_and_keeps_the_decoders_for_the_log(data, message):
    previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, DEFAULT_MAX_PIXELS  # as the handler sets it
    try:
        with pytest.raises(ImageRejectedError) as refused:
            decode_image(data, TARGET)
    finally:
        Image.MAX_IMAGE_PIXELS = previous
    assert refused.value.message == message
    assert refused.value.detail  # Pillow's own words, for the log line under the request's ID
    assert refused.value.detail not in str(refused.value.body())
