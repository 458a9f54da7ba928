"""What an image costs the worker to decode: a few kilobytes that would decode to hundreds of megabytes,
or cost seconds of scans, segments or resizing, are refused from their header (inference.image_limits);
the largest allowed are reduced band by band before any mode conversion or turn, within 100 MB; and every
real screenshot decodes to exactly the pixels it always did."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image, ImageOps

from benchmarks.common.costly_images import (
    HALF_TRANSPARENT,
    exif_orientation,
    jpeg,
    palette_png,
    png_chunk,
    progressive_jpeg,
    uniform_png,
    webp,
    with_segments,
)
from benchmarks.studies.decode_cost import cost_in_fresh_process
from handler.image_decode import ImageRejectedError, _reducible_mode, _to_rgb, decode_image
from inference.architectures import architecture
from inference.formats import DEFAULT_MAX_PIXELS, DEFAULT_MAX_UPLOAD_BYTES
from inference.preprocessing import cover_size

TARGET = (224, 398)  # (height, width) a model input is resized to cover
PRE = architecture("efficientnet_lite0").preprocessing  # the demo model's
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


COSTLY = {  # what the probes sent, and the other shapes the limits refuse: (data, status, code)
    "16588800x1": (lambda: uniform_png(16588800, 1, "RGB"), 422, "unsupported_aspect_ratio"),
    "259200x64": (lambda: uniform_png(259200, 64, "RGB"), 422, "unsupported_aspect_ratio"),
    "4000-scans": (lambda: progressive_jpeg(7680, 2160, 4000), 422, "image_too_complex"),
    "1.25M-segments": (
        lambda: with_segments(jpeg(64, 64), b"\xff\xfe\x00\x02" * 1_250_000),
        422,
        "image_too_complex",
    ),
    "400k-chunks": (
        lambda: uniform_png(64, 64, "RGB", extra_chunks=png_chunk(b"abCd", b"") * 400_000),
        422,
        "image_too_complex",
    ),
    "webp-at-the-cap": (lambda: webp(*LARGEST, lossless=True), 413, "image_too_large"),
    "cmyk-progressive-at-the-cap": (lambda: progressive_jpeg(*LARGEST, 18, "CMYK"), 413, "image_too_large"),
}


@pytest.mark.parametrize("shape", COSTLY)
def test_an_image_costlier_than_the_limits_is_refused_before_it_is_decoded(shape):
    make, status, code = COSTLY[shape]
    data = make()
    assert len(data) < DEFAULT_MAX_UPLOAD_BYTES
    outcome, _ = timed_decode(data)
    assert isinstance(outcome, ImageRejectedError)
    assert (outcome.status, outcome.code) == (status, code)
    assert outcome.detail is None  # the shared rule's words are the client's; nothing else to log


WORST_PNGS = {
    "rgba": lambda size: uniform_png(*size, "RGBA", HALF_TRANSPARENT),
    "rgba-16-bit": lambda size: uniform_png(*size, "RGBA;16", bytes([200, 0, 30, 0, 30, 0, 128, 0])),
    "grey-alpha": lambda size: uniform_png(*size, "LA", bytes([100, 128])),
    "palette-transparent": lambda size: palette_png(*size),
    "16-bit-grey": lambda size: uniform_png(*size, "I;16", SIXTEEN_BIT_GREY),
    "turned": lambda size: uniform_png(
        *size, "RGBA", HALF_TRANSPARENT, png_chunk(b"eXIf", exif_orientation(6))
    ),
}


@pytest.mark.parametrize(
    ("kind", "size"),
    [(kind, LARGEST) for kind in WORST_PNGS] + [("rgba", (11520, 1440)), ("rgba", (1440, 11520))],
    ids=[f"{kind}-dual-4k" for kind in WORST_PNGS] + ["rgba-8:1", "rgba-1:8"],
)
def test_the_costliest_accepted_pngs_hold_less_than_100_mb_to_decode_and_prepare(kind, size):
    """At the pixel cap and at the aspect limit: the decoded frame (4 bytes a pixel, 66 MB) and bands of it,
    measured in a fresh interpreter (this one keeps what earlier tests freed). Reduced whole, an alpha,
    palette or turned one held 132 to 153 MB."""
    cost = cost_in_fresh_process(WORST_PNGS[kind](size))
    assert cost.outcome == str((3, *PRE.crop_size))
    assert cost.held_bytes < 100_000_000


@pytest.mark.parametrize(
    ("mode", "size"),
    [("RGBA", (3001, 1003)), ("LA", (3001, 1003)), ("P", (2999, 1001)), ("I;16", (3000, 1001))],
)
def test_a_frame_reduced_band_by_band_has_the_pixels_of_the_frame_reduced_whole(mode, size):
    rng = np.random.default_rng(2)
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65536, size[::-1], dtype=np.uint16)).convert("I;16")
    elif mode == "P":
        image = Image.fromarray(rng.integers(0, 256, size[::-1], dtype=np.uint8), "L").convert("P")
        image.info["transparency"] = 3
    else:
        image = Image.fromarray(rng.integers(0, 256, (*size[::-1], len(mode)), dtype=np.uint8), mode)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    decoded = decode_image(buffer.getvalue(), TARGET, max_bytes=10**8)
    with Image.open(buffer) as whole:
        assert np.array_equal(np.asarray(decoded), np.asarray(whole_frame_way(whole)))


def whole_frame_way(img: Image.Image, target: tuple[int, int] = TARGET) -> Image.Image:
    """How decode_image decoded before it reduced by bands and turned after reducing: the frame turned,
    then converted and reduced whole."""
    if img.format == "JPEG":
        wanted_h, wanted_w = cover_size(img.size, target)
        img.draft("RGB", (wanted_w, wanted_h))
    img.load()
    sixteen_bit = img.mode.startswith("I;16")
    img = ImageOps.exif_transpose(img)
    height, width = cover_size(img.size, target)
    factor = min(img.width // width, img.height // height)
    if factor >= 2:
        img = img.convert(_reducible_mode(img)).reduce(factor)
    return _to_rgb(img, sixteen_bit)


def test_every_real_screenshot_decodes_to_exactly_the_pixels_it_did_before(screenshots):
    """Bands and the turn after reducing change no real screenshot: the same pixels, bit for bit, so the
    same tensors (preprocessing REVISION 4 is for turned PNGs and WebPs of odd sizes)."""
    files = sorted(p for p in screenshots.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    assert len(files) == 118
    for path in files:
        data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as img:
            expected = np.asarray(whole_frame_way(img, PRE.resize_size))
        assert np.array_equal(np.asarray(decode_image(data, PRE.resize_size)), expected), path.name


def test_a_turned_png_is_reduced_then_turned_upright():
    size = (3840, 2160)
    data = uniform_png(*size, "RGB", bytes([9, 99, 199]), png_chunk(b"eXIf", exif_orientation(6)))
    decoded = decode_image(data, TARGET)
    assert decoded.height > decoded.width  # turned a quarter: portrait
    assert decoded.width >= TARGET[1]  # and still covering the model's input once turned
    assert decoded.getextrema() == ((9, 9), (99, 99), (199, 199))
