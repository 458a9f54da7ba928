"""What an upload may cost to decode (inference.image_limits), judged before any pixel is: every real
screenshot and the shapes screens have pass; an elongated image, a JPEG of too many scans or segments, a
PNG of too many chunks, and images whose decoder would hold more than the budget are refused, each with
its code; the scan count is read from the markers, segment by segment."""

from __future__ import annotations

import io
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from benchmarks.common.costly_images import (
    jpeg,
    photoshop_segment,
    png_chunk,
    progressive_jpeg,
    uniform_png,
    webp,
    with_segments,
)
from inference.formats import DEFAULT_MAX_PIXELS, sniff_format
from inference.image_limits import (
    DECODE_BUDGET,
    MAX_ASPECT,
    MAX_JPEG_PHOTOSHOP_SEGMENTS,
    MAX_JPEG_SCANS,
    MAX_JPEG_SEGMENTS,
    MAX_JPEG_STRAY_BYTES,
    MAX_PNG_CHUNKS,
    MAX_PNG_INFLATED_CHUNKS,
    WEBP_BYTES_PER_PIXEL,
    ImageLimitError,
    Structure,
    check_dimensions,
    check_structure,
    coefficient_bytes,
)

YCC_444 = ((1, 1), (1, 1), (1, 1))
YCC_420 = ((2, 2), (1, 1), (1, 1))
CMYK = ((1, 1),) * 4


def judged(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageLimitError | Structure:
    """What the gateway and the handler find: the structure walked, then the header's size judged."""
    fmt = sniff_format(data)
    assert fmt is not None
    try:
        structure = check_structure(data, fmt)
        with Image.open(io.BytesIO(data)) as img:
            check_dimensions(fmt, *img.size, max_pixels, structure)
    except ImageLimitError as refused:
        return refused
    return structure


def refusal(outcome: ImageLimitError | Structure) -> tuple[int, str]:
    assert isinstance(outcome, ImageLimitError), outcome
    return outcome.status, outcome.code


def test_every_real_screenshot_passes(screenshots):
    files = sorted(p for p in screenshots.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    assert len(files) == 118
    outcomes = [judged(path.read_bytes()) for path in files]
    assert [o for o in outcomes if not isinstance(o, Structure)] == []
    assert max(o.scans for o in outcomes) == 11  # their progressive JPEGs: 6 to 11 scans


@pytest.mark.parametrize(
    "size",
    [(7680, 2160), (5120, 1440), (3840, 1080), (10320, 1440), (1080, 2400), (8000, 1000), (1000, 8000)],
    ids=["dual-4k", "32:9", "32:9-1080", "three-21:9", "phone", "8:1", "1:8"],
)
def test_the_shapes_screens_have_pass(size):
    check_dimensions("PNG", *size, DEFAULT_MAX_PIXELS, Structure())


@pytest.mark.parametrize(
    "size", [(16588800, 1), (259200, 64), (518400, 32), (8001, 1000), (1, 9), (0, 100)], ids=str
)
def test_a_side_more_than_eight_times_the_other_is_refused(size):
    with pytest.raises(ImageLimitError) as refused:
        check_dimensions("PNG", *size, DEFAULT_MAX_PIXELS, Structure())
    assert (refused.value.status, refused.value.code) == (422, "unsupported_aspect_ratio")
    assert f"more than {MAX_ASPECT} times the other" in refused.value.message


def test_the_pixel_cap_is_refused_first_as_too_large():
    assert refusal(judged(uniform_png(7681, 2160, "RGB"))) == (413, "image_too_large")


@pytest.mark.parametrize("scans", [10, 20, MAX_JPEG_SCANS])
def test_a_progressive_jpegs_scans_are_counted_from_its_markers(scans):
    assert judged(progressive_jpeg(640, 360, scans)) == Structure(scans, YCC_444)


def test_a_jpeg_of_more_scans_than_the_limit_is_refused():
    """The issue's 157 KB file held about 4000 scans: 5.2 s of the worker; refused from its markers."""
    assert refusal(judged(progressive_jpeg(640, 360, MAX_JPEG_SCANS + 1))) == (422, "image_too_complex")
    assert refusal(judged(progressive_jpeg(7680, 2160, 4000))) == (422, "image_too_complex")


def exif_with_thumbnail(thumbnail: bytes) -> bytes:
    """An APP1 EXIF segment whose IFD1 points at ``thumbnail``, a whole JPEG with markers of its own: the
    TIFF header, an empty IFD0 at 8, IFD1 at 14 (offset and length of the thumbnail), the thumbnail at 44."""

    def entry(tag: int, value: int) -> bytes:
        return (
            tag.to_bytes(2, "little")
            + (4).to_bytes(2, "little")
            + (1).to_bytes(4, "little")
            + value.to_bytes(4, "little")
        )

    ifd0 = (0).to_bytes(2, "little") + (14).to_bytes(4, "little")
    ifd1 = (2).to_bytes(2, "little") + entry(0x0201, 44) + entry(0x0202, len(thumbnail)) + bytes(4)
    payload = b"Exif\x00\x00" + b"II*\x00" + (8).to_bytes(4, "little") + ifd0 + ifd1 + thumbnail
    return b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload


def test_the_scans_of_a_thumbnail_inside_exif_are_not_counted():
    """A segment is skipped by its length: the thumbnail's SOS markers (more than the limit) are data."""
    thumbnail = progressive_jpeg(160, 90, MAX_JPEG_SCANS + 8)
    assert thumbnail.count(b"\xff\xda") > MAX_JPEG_SCANS
    data = with_segments(jpeg(640, 360), exif_with_thumbnail(thumbnail))
    assert judged(data) == Structure(1, YCC_444)
    with Image.open(io.BytesIO(data)) as img:
        assert img.size == (640, 360)
        assert img.getexif().get_ifd(1) or img.info["exif"].endswith(thumbnail)  # Pillow reads its EXIF


@pytest.mark.parametrize("progressive", [False, True])
def test_stuffed_bytes_and_restart_markers_in_the_entropy_data_are_not_markers(progressive):
    noise = np.random.default_rng(0).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "JPEG", quality=95, progressive=progressive, restart_marker_blocks=4)
    data = buffer.getvalue()
    assert data.count(b"\xff\x00") > 500  # stuffed 0xFF data bytes
    assert sum(data.count(bytes([0xFF, rst])) for rst in range(0xD0, 0xD8)) > 100  # restart markers
    assert judged(data) == Structure(10 if progressive else 1, YCC_420)


def test_walking_5_mb_of_stuffed_entropy_data_is_linear_and_in_c():
    """A scan's data is skipped by one search for the next marker; a Python loop per byte took seconds."""
    data = jpeg(64, 64)
    scan_end = data.rindex(b"\xff\xd9")
    stuffed = data[:scan_end] + b"\xff\x00" * 2_500_000 + data[scan_end:]
    started = time.perf_counter()
    assert check_structure(stuffed, "JPEG") == Structure(1, YCC_444)
    assert time.perf_counter() - started < 0.5  # about 10 ms; a loop per byte in Python took over 2 s


@pytest.mark.parametrize(
    ("extra", "accepted"),
    [
        (
            b"\xff\xfe\x00\x02" * (MAX_JPEG_SEGMENTS - 9),
            True,  # empty comments, and the JPEG's own 9
        ),
        (b"\xff\xfe\x00\x02" * MAX_JPEG_SEGMENTS, False),
        (b"\xff\xfe\x00\x02" * 1_250_000, False),  # 5 MB of them held Pillow 1.1 s
        (b"\x00" * MAX_JPEG_STRAY_BYTES, True),
        (b"\x00" * 5_000_000, False),  # 0.3 s of Pillow's header parse
        (b"\xff" * 5_000_000, False),  # fill bytes: 1.3 s
        (b"\xff\x00" * 2_500_000, False),  # 0.7 s
    ],
    ids=[
        "segments-at-limit",
        "segments-over",
        "5mb-of-segments",
        "stray-at-limit",
        "junk",
        "fill",
        "stuffed",
    ],
)
def test_a_jpeg_header_that_pillow_would_loop_over_is_refused(extra, accepted):
    outcome = judged(with_segments(jpeg(64, 64), extra))
    if accepted:
        assert outcome == Structure(1, YCC_444)
    else:
        assert refusal(outcome) == (422, "image_too_complex")


def test_a_jpeg_of_more_photoshop_segments_than_pillow_reads_in_a_blink_is_refused():
    """Pillow reads each Photoshop resource in Python: 76 segments of empty ones (5 MB) took 1.5 s."""
    allowed = with_segments(jpeg(64, 64), photoshop_segment() * MAX_JPEG_PHOTOSHOP_SEGMENTS)
    assert judged(allowed) == Structure(1, YCC_444)
    over = with_segments(jpeg(64, 64), photoshop_segment() * (MAX_JPEG_PHOTOSHOP_SEGMENTS + 1))
    assert refusal(judged(over)) == (422, "image_too_complex")


def test_a_png_of_more_chunks_than_the_limit_is_refused():
    """5 MB of empty chunks held Pillow about a second, before its pixels or between them."""
    empty = png_chunk(b"abCd", b"")
    assert isinstance(
        judged(uniform_png(64, 64, "RGB", extra_chunks=empty * (MAX_PNG_CHUNKS - 3))), Structure
    )
    assert refusal(judged(uniform_png(64, 64, "RGB", extra_chunks=empty * MAX_PNG_CHUNKS))) == (
        422,
        "image_too_complex",
    )
    assert refusal(judged(uniform_png(64, 64, "RGB", extra_chunks=empty * 400_000))) == (
        422,
        "image_too_complex",
    )


def test_libpngs_8_kb_image_chunks_fill_5_mb_well_within_the_chunk_limit():
    noise = np.random.default_rng(0).integers(0, 256, (1250, 1400, 3), dtype=np.uint8).tobytes()
    rows = b"".join(b"\x00" + noise[y * 4200 : (y + 1) * 4200] for y in range(1250))
    packed = zlib.compress(rows, 0)
    chunks = b"".join(png_chunk(b"IDAT", packed[i : i + 8192]) for i in range(0, len(packed), 8192))
    header = (1400).to_bytes(4, "big") + (1250).to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + chunks + png_chunk(b"IEND", b"")
    assert len(data) > 5_000_000
    assert isinstance(judged(data), Structure)


def test_a_png_of_many_compressed_text_chunks_is_refused():
    """Pillow inflates each to as much as 1 MB: 60 of them from 63 KB took 0.46 s and 62 MB."""
    text = png_chunk(b"zTXt", b"k\x00\x00" + zlib.compress(b"a" * 1_000_000, 9))
    itxt = png_chunk(b"iTXt", b"k\x00\x01\x00\x00\x00" + zlib.compress(b"a" * 1_000_000, 9))
    plain_itxt = png_chunk(b"iTXt", b"k\x00\x00\x00\x00\x00" + b"a" * 1000)
    allowed = text * (MAX_PNG_INFLATED_CHUNKS - 1) + itxt + plain_itxt * 20
    assert isinstance(judged(uniform_png(64, 64, "RGB", extra_chunks=allowed)), Structure)
    for extra in (text * (MAX_PNG_INFLATED_CHUNKS + 1), allowed + itxt):
        assert refusal(judged(uniform_png(64, 64, "RGB", extra_chunks=extra))) == (422, "image_too_complex")


def test_a_webp_beyond_what_its_decoder_holds_within_the_budget_is_refused():
    """Pillow's WebP decoder holds 16 bytes a pixel: 255 MB at the pixel cap."""
    most = DECODE_BUDGET // WEBP_BYTES_PER_PIXEL
    assert isinstance(judged(webp(3232, 1818, lossless=True)), Structure)
    assert 3232 * 1818 <= most < 3840 * 2160
    assert refusal(judged(webp(3840, 2160, lossless=False))) == (413, "image_too_large")


def test_a_jpeg_of_several_scans_is_held_to_the_budget_of_its_coefficients():
    """libjpeg keeps every coefficient of a multi-scan JPEG: 4:4:4 at the cap is 99.5 MB and passes, CMYK
    at the cap is 133 MB and is refused; a single scan is decoded in draft mode, a few MB, and passes."""
    assert coefficient_bytes(7680, 2160, YCC_444) == 7680 * 2160 * 3 * 2 <= DECODE_BUDGET
    assert coefficient_bytes(7680, 2160, YCC_420) == 7680 * 2160 * 3 // 2 * 2
    assert coefficient_bytes(7, 9, YCC_420) == (16 * 16 + 2 * 8 * 8) * 2  # whole MCUs
    assert judged(progressive_jpeg(7680, 2160, 10)) == Structure(10, YCC_444)
    assert refusal(judged(progressive_jpeg(7680, 2160, 18, "CMYK"))) == (413, "image_too_large")
    assert judged(progressive_jpeg(6650, 1870, 18, "CMYK")) == Structure(18, CMYK)
    cmyk = io.BytesIO()
    Image.new("CMYK", (7680, 2160)).save(cmyk, "JPEG")
    assert judged(cmyk.getvalue()) == Structure(1, CMYK)
