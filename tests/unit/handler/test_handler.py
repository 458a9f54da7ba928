"""The handler in-process: every kind of upload a user can send, one batch at a time."""

from __future__ import annotations

import io
import json
import logging
import re
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.common.costly_images import uniform_png
from handler import fromsoft_handler as handler_module
from handler.fromsoft_handler import FromSoftHandler
from inference.archive_digest import digest_of_folder
from inference.formats import DEFAULT_MAX_UPLOAD_BYTES
from inference.labels import LABELS, UNKNOWN_LABEL
from inference.multi_image import COUNT_HEADER, MAX_IMAGES, field
from inference.preprocessing import eval_transform
from tests.unit.handler.conftest import MockContext, make_model_dir, run
from training.synthesize import render_clip


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def frame(mode: str = "RGB", size: tuple[int, int] = (640, 360)) -> Image.Image:
    rng = np.random.default_rng(1)
    rgb = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    return rgb if mode == "RGB" else rgb.convert(mode)


def assert_answer(result: dict) -> None:
    assert result["label"] in (*LABELS, UNKNOWN_LABEL)
    probs = [p["probability"] for p in result["probabilities"]]
    assert len(probs) == 7
    assert probs == sorted(probs, reverse=True)
    assert sum(probs) == pytest.approx(1.0, abs=1e-4)
    assert result["confidence"] == pytest.approx(probs[0])
    model = dict(result["model"])
    assert re.fullmatch(r"[0-9a-f]{12}", model.pop("digest"))  # inference.archive_digest of the folder
    assert model == {"name": "fromsoft", "version": "1.0", "arch": "tiny"}
    assert set(result["timings_ms"]) == {"decode", "preprocess", "inference", "postprocess"}
    assert len(result["preprocessing_version"]) == 12


def assert_error(results: list, context: MockContext, index: int, status: int, code: str) -> None:
    assert context.statuses[index][0] == status
    assert results[index]["error"]["code"] == code
    assert results[index]["error"]["message"]


@pytest.mark.parametrize(
    ("mode", "fmt", "kwargs"),
    [
        ("RGB", "JPEG", {"quality": 90}),
        ("RGB", "PNG", {}),
        ("RGBA", "PNG", {}),
        ("P", "PNG", {}),
        ("L", "PNG", {}),
        ("L", "JPEG", {}),
        ("CMYK", "JPEG", {}),
        ("RGB", "WEBP", {}),
    ],
)
def test_valid_images_in_every_common_mode_get_an_answer(handler, mode, fmt, kwargs):
    results, context = run(handler, [encode(frame(mode), fmt, **kwargs)])
    assert context.statuses == {}
    assert context.content_types == {0: "application/json"}
    assert_answer(results[0])


def test_16_bit_png_is_scaled_to_8_bit(handler):
    wide = Image.fromarray(
        (np.arange(360 * 640, dtype=np.uint32).reshape(360, 640) % 65536).astype(np.uint16)
    )
    results, context = run(handler, [encode(wide, "PNG")])
    assert context.statuses == {}
    assert_answer(results[0])
    assert handler.decode({"body": encode(wide, "PNG")}).getextrema()[0][1] > 200  # not clipped to white


def test_exif_orientation_is_applied(handler):
    img = frame(size=(640, 360))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    data = encode(img, "JPEG", exif=exif.tobytes())
    decoded = handler.decode({"body": data})
    assert decoded.height > decoded.width


def test_png_near_the_input_size_decodes_exactly_like_evaluation(handler):
    img = frame(size=(200, 112))  # less than twice the tiny model's input: nothing to reduce
    array = handler.transform(handler.decode({"body": encode(img, "PNG")}))
    assert np.array_equal(array, eval_transform(img, handler.pre))


def test_large_png_reduced_first_stays_close_to_full_decoding(handler):
    img = scene((1920, 1080))
    data = encode(img, "PNG")
    decoded = handler.decode({"body": data})
    assert decoded.width < 1920  # reduced by a whole factor
    assert decoded.width >= handler.pre.resize_size[1]
    fast = handler.transform(decoded)
    assert float(np.abs(fast - eval_transform(img, handler.pre)).mean()) < 0.05


def test_a_letterboxed_screenshot_is_answered_as_the_game_alone(handler):
    """A 16:9 game on a 16:10 screen: the bars are cut before preprocessing (inference.borders)."""
    game = frame(size=(640, 360))
    boxed = Image.new("RGB", (640, 400))
    boxed.paste(game, (0, 20))
    alone, _ = run(handler, [encode(game, "PNG")])
    results, context = run(handler, [encode(boxed, "PNG")])
    assert context.statuses == {}
    assert results[0]["probabilities"] == alone[0]["probabilities"]


def scene(size: tuple[int, int]) -> Image.Image:
    """A game-like frame (smooth regions, edges, a HUD) rather than noise, at the given size."""
    with Image.open(io.BytesIO(render_clip("elden_ring", 0, 1, seed=0)[0])) as img:
        return img.convert("RGB").resize(size, Image.Resampling.BICUBIC)


def test_large_jpeg_in_draft_mode_stays_close_to_full_decoding(handler):
    big = scene((3840, 2160))
    data = encode(big, "JPEG", quality=92)
    fast = handler.transform(handler.decode({"body": data}))
    full = eval_transform(Image.open(io.BytesIO(data)).convert("RGB"), handler.pre)
    assert handler.decode({"body": data}).width < 3840  # draft mode decoded a reduced size
    assert float(np.abs(fast - full).mean()) < 0.05


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"", 400, "empty_payload"),
        (b"just some text, not an image", 415, "unsupported_media_type"),
        (b'{"image": "base64..."}', 415, "unsupported_media_type"),
        (b"GIF89a" + b"\x00" * 100, 415, "unsupported_media_type"),
        (b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>", 400, "invalid_image"),
    ],
)
def test_bad_uploads_get_a_clear_4xx_error(handler, body, status, code):
    results, context = run(handler, [body])
    assert_error(results, context, 0, status, code)


def test_truncated_jpeg_is_refused(handler):
    data = encode(frame(), "JPEG")
    results, context = run(handler, [data[: len(data) // 2]])
    assert_error(results, context, 0, 400, "invalid_image")


def test_real_gif_is_refused(handler):
    results, context = run(handler, [encode(frame(), "GIF")])
    assert_error(results, context, 0, 415, "unsupported_media_type")


def test_parsed_json_and_text_bodies_are_the_wrong_media_type(handler):
    context = MockContext(handler.model_dir, "model.onnx")
    out = handler.handle([{"body": {"image": "x"}}, {"body": "text"}], context)
    assert [json.loads(o)["error"]["code"] for o in out] == ["unsupported_media_type"] * 2
    assert [context.statuses[i][0] for i in (0, 1)] == [415, 415]


def test_png_decompression_bomb_is_refused_before_decoding(handler):
    # 20000 x 20000 grey pixels compress to a few kilobytes.
    raw = b"".join(b"\x00" + b"\x00" * 20000 for _ in range(20000))
    ihdr = (20000).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            len(payload).to_bytes(4, "big") + kind + payload + zlib.crc32(kind + payload).to_bytes(4, "big")
        )

    bomb = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )
    assert len(bomb) < 1_000_000
    results, context = run(handler, [bomb])
    assert_error(results, context, 0, 413, "image_too_large")


def test_upload_over_5_mb_is_refused(handler):
    results, context = run(handler, [b"\xff\xd8\xff" + b"\x00" * DEFAULT_MAX_UPLOAD_BYTES])
    assert_error(results, context, 0, 413, "payload_too_large")


def test_content_decides_the_format_not_the_declared_type(handler):
    # A JPEG sent as "image/png" (or named .png) and a PNG sent as JPEG both decode by their bytes.
    context = MockContext(handler.model_dir, "model.onnx")
    entries = [
        {"body": encode(frame(), "JPEG"), "content-type": "image/png"},
        {"body": encode(frame(), "PNG"), "content-type": "image/jpeg"},
    ]
    results = [json.loads(o) for o in handler.handle(entries, context)]
    assert context.statuses == {}
    for result in results:
        assert_answer(result)


def test_jpeg_with_a_zip_appended_is_classified_as_the_jpeg_it_is(handler):
    polyglot = encode(frame(), "JPEG") + b"PK\x03\x04" + b"\x00" * 200
    results, context = run(handler, [polyglot])
    assert context.statuses == {}
    assert_answer(results[0])


def test_one_bad_image_fails_alone_in_a_mixed_batch(handler):
    good = encode(frame(), "JPEG")
    results, context = run(handler, [good, b"not an image", good])
    assert set(context.statuses) == {1}
    assert_error(results, context, 1, 415, "unsupported_media_type")
    assert_answer(results[0])
    assert_answer(results[2])
    assert results[0]["probabilities"] == results[2]["probabilities"]


POISON = b"\x89PNG\r\n\x1a\n a file that breaks the decoder in a way it did not foresee"


def test_an_image_that_raises_anything_fails_alone_as_a_422_and_its_neighbours_are_answered(
    handler, monkeypatch, caplog
):
    """A fault no real image raises on demand (the allowed fake): the decoder raising what it never
    foresaw for one image. Its request, and its place in a multi-image request, get a 422 of their own;
    the rest of the TorchServe batch is answered, and the traceback is logged under the request's ID."""
    real = handler_module.decode_image

    def decode(data, *args, **kwargs):
        if bytes(data) == POISON:
            raise OverflowError("Python int too large to convert to C int")
        return real(data, *args, **kwargs)

    monkeypatch.setattr(handler_module, "decode_image", decode)
    good = encode(frame(), "JPEG")
    entry, headers = many([good, POISON, good])
    ids = [{"X-Request-ID": f"gateway-id-{i}"} for i in range(3)]
    context = MockContext(handler.model_dir, "model.onnx", [ids[0], {**headers, **ids[1]}, ids[2], {}])
    with caplog.at_level(logging.INFO, logger="handler.fromsoft_handler"):
        out = handler.handle([{"body": good}, entry, {"body": POISON}, {"body": good}], context)
    results = [json.loads(o) for o in out]
    assert set(context.statuses) == {2}
    assert_error(results, context, 2, 422, "undecodable_image")
    assert results[2]["error"]["message"] == "the image could not be decoded"
    for answered in (results[0], results[1][0], results[1][2], results[3]):
        assert_answer(answered)
    assert results[1][1]["error"]["code"] == "undecodable_image"
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert sorted(r.getMessage() for r in failures) == [
        f"request gateway-id-{i}: preparing an image failed unforeseen" for i in (1, 2)
    ]
    assert all(r.exc_info and r.exc_info[0] is OverflowError for r in failures)  # with its traceback
    line = next(json.loads(r.getMessage()) for r in caplog.records if '"gateway-id-2"' in r.getMessage())
    assert line["detail"] == "OverflowError: Python int too large to convert to C int"


def many(images: list[bytes]) -> tuple[dict[str, bytes], dict[str, str]]:
    """A multi-image request's entry and headers, as the gateway sends it (inference.multi_image)."""
    return {field(i): image for i, image in enumerate(images)}, {COUNT_HEADER: str(len(images))}


def test_a_multi_image_request_answers_a_list_in_order_and_a_bad_image_fails_in_its_place(handler):
    jpeg, png = encode(frame(), "JPEG"), encode(frame("L"), "PNG")
    entry, headers = many([jpeg, b"not an image", png, encode(frame(), "PNG")[:-200]])
    context = MockContext(handler.model_dir, "model.onnx", [headers])
    [answers] = [json.loads(o) for o in handler.handle([entry], context)]
    assert context.statuses == {}  # the request succeeded; its refusals are in the list
    assert len(answers) == 4
    assert_answer(answers[0])
    assert_answer(answers[2])
    assert answers[1]["error"]["code"] == "unsupported_media_type"
    assert answers[3]["error"] == {
        "code": "invalid_image",
        "message": "the PNG image is truncated or corrupt",
    }
    alone, _ = run(handler, [jpeg, png])
    assert [a["probabilities"] for a in (answers[0], answers[2])] == [a["probabilities"] for a in alone]


def test_a_torchserve_batch_mixing_every_kind_of_request_answers_each_as_it_asked(handler):
    """Singles, an explanation, a multi-image request and a bad single, each with its own headers."""
    image, other = encode(frame(), "JPEG"), encode(frame("L"), "PNG")
    entry, headers = many([other, image])
    context = MockContext(
        handler.model_dir, "model.onnx", [{}, headers, {"explain": "True"}, {}, {"X-Request-ID": "x-0001"}]
    )
    bodies = [{"body": image}, entry, {"body": image}, {"body": b"not an image"}, {"body": other}]
    results = [json.loads(o) for o in handler.handle(bodies, context)]
    assert_answer(results[0])
    assert [a["probabilities"] for a in results[1]] == [
        results[4]["probabilities"],
        results[0]["probabilities"],
    ]
    assert np.array(results[2]["heatmap"]).shape == (9, 16)
    assert set(context.statuses) == {3}
    assert_error(results, context, 3, 415, "unsupported_media_type")


@pytest.mark.parametrize("count", ["", "0", "257", "three"])
def test_a_multi_image_request_without_a_sane_count_is_refused_whole(handler, count):
    context = MockContext(handler.model_dir, "model.onnx", [{COUNT_HEADER: count}])
    results = [json.loads(o) for o in handler.handle([{field(0): encode(frame(), "JPEG")}], context)]
    assert_error(results, context, 0, 400, "invalid_request")


def test_an_image_missing_from_a_multi_image_request_is_an_empty_payload_in_its_place(handler):
    entry, _ = many([encode(frame(), "JPEG")])
    context = MockContext(handler.model_dir, "model.onnx", [{"x-image-count": "2"}])  # any case
    [answers] = [json.loads(o) for o in handler.handle([entry], context)]
    assert_answer(answers[0])
    assert answers[1]["error"]["code"] == "empty_payload"


def test_a_multi_image_request_is_logged_once_with_its_images_and_refusals(handler, caplog):
    entry, headers = many([encode(frame(), "JPEG"), b"not an image", encode(frame(), "PNG")[:-200]])
    context = MockContext(handler.model_dir, "model.onnx", [{**headers, "X-Request-ID": "gateway-id-0009"}])
    with caplog.at_level(logging.INFO, logger="handler.fromsoft_handler"):
        handler.handle([entry], context)
    [line] = [json.loads(r.getMessage()) for r in caplog.records if r.getMessage().startswith("{")]
    assert line["request_id"] == "gateway-id-0009"
    assert (line["kind"], line["error"], line["images"], line["refused"]) == ("classify_many", None, 3, 2)
    assert line["detail"] == [None, "OSError: image file is truncated"]


def test_gradcam_heatmap_has_the_grid_shape_and_unit_range(handler):
    results, _context = run(handler, [encode(frame(), "JPEG")], explain=True)
    heatmap = np.array(results[0]["heatmap"])
    assert heatmap.shape == (results[0]["rows"], results[0]["cols"]) == (9, 16)
    assert heatmap.min() >= 0.0
    assert heatmap.max() <= 1.0
    assert results[0]["label"] in LABELS


def test_a_batch_mixing_classifications_and_explanations_answers_each_as_it_asked(handler):
    # TorchServe batches requests from different clients: each carries its own explain header.
    image, other = encode(frame(), "JPEG"), encode(frame("L"), "PNG")
    marks = [True, False, False, True]
    results, context = run(handler, [image, image, other, b"not an image"], explain=marks)
    assert_answer(results[1])
    assert_answer(results[2])
    assert "heatmap" not in results[1]
    assert "heatmap" not in results[2]
    assert np.array(results[0]["heatmap"]).shape == (9, 16)
    assert "probabilities" not in results[0]
    assert set(context.statuses) == {3}  # a bad explanation fails alone
    assert_error(results, context, 3, 415, "unsupported_media_type")
    alone, _ = run(handler, [image], explain=True)
    assert results[0]["heatmap"] == alone[0]["heatmap"]  # the same as when explained by itself


def test_a_description_in_a_batch_of_classifications_is_answered_alone(handler):
    context = MockContext(handler.model_dir, "model.onnx", [{}, {"describe": "True"}])
    results = [json.loads(o) for o in handler.handle([{"body": encode(frame(), "JPEG")}, {}], context)]
    assert_answer(results[0])
    assert results[1]["model"]["name"] == "fromsoft"
    assert results[1]["model"]["digest"] == digest_of_folder(Path(handler.model_dir))
    assert "labels" in results[1]


def test_each_request_of_a_batch_is_logged_under_its_own_id_and_never_with_its_token(handler, caplog):
    """TorchServe hands the handler every header, the gateway's token among them: only chosen fields go
    into the log line, the ID in whatever case the header was sent."""
    token = "Bearer s3cretKey"
    headers = [
        {"X-Request-ID": "gateway-id-0001", "Authorization": token},
        {"x-request-id": "gateway-id-0002", "Authorization": token, "explain": "True"},
        {"Authorization": token},
        {"describe": "True"},
    ]
    context = MockContext(handler.model_dir, "model.onnx", headers)
    good = encode(frame(), "JPEG")
    with caplog.at_level(logging.INFO, logger="handler.fromsoft_handler"):
        handler.handle([{"body": good}, {"body": good}, {"body": b"not an image"}, {}], context)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.getMessage().startswith("{")]
    assert [(line["request_id"], line["kind"], line["error"]) for line in lines] == [
        ("gateway-id-0001", "classify", None),
        ("gateway-id-0002", "explain", None),
        (None, "classify", "unsupported_media_type"),
    ]
    assert all(line["batch"] == 4 and line["handler_ms"] > 0 for line in lines)
    assert "s3cretKey" not in caplog.text


def test_a_refused_image_gets_fixed_words_and_its_decoders_go_to_the_log_under_its_id(handler, caplog):
    truncated = encode(frame(), "PNG")[:-200]
    context = MockContext(handler.model_dir, "model.onnx", [{"X-Request-ID": "gateway-id-0003"}])
    with caplog.at_level(logging.INFO, logger="handler.fromsoft_handler"):
        out = handler.handle([{"body": truncated}], context)
    assert json.loads(out[0])["error"] == {
        "code": "invalid_image",
        "message": "the PNG image is truncated or corrupt",
    }
    line = next(json.loads(r.getMessage()) for r in caplog.records if r.getMessage().startswith("{"))
    assert line["request_id"] == "gateway-id-0003"
    assert line["error"] == "invalid_image"
    assert line["detail"] == "OSError: image file is truncated"  # Pillow's own words, logged only


@pytest.mark.parametrize(
    ("size", "mode", "pixel", "status"),
    [
        ((6000, 6000), "I;16", (30000).to_bytes(2, "big"), 413),
        ((6000, 6000), "RGBA", bytes([200, 30, 30, 128]), 413),
        ((7680, 2160), "I;16", (30000).to_bytes(2, "big"), None),
        ((7680, 2160), "RGBA", bytes([200, 30, 30, 128]), None),
    ],
)
def test_a_small_upload_of_many_pixels_is_answered_within_a_second(handler, size, mode, pixel, status):
    """Refused from its header over twice 4K, reduced before its conversion up to it."""
    data = uniform_png(*size, mode, pixel)
    assert len(data) < 200_000
    started = time.perf_counter()
    results, context = run(handler, [data])
    assert time.perf_counter() - started < 1.0
    if status is None:
        assert context.statuses == {}
        assert_answer(results[0])
    else:
        assert_error(results, context, 0, status, "image_too_large")


@pytest.mark.parametrize(("form", "tolerance"), [("eager", 1e-4), ("torchscript", 1e-4), ("onnx-int8", 0.05)])
def test_every_serving_form_gives_the_same_answer(handler, form, tolerance, tmp_path):
    other = FromSoftHandler()
    other.initialize(MockContext(*make_model_dir(tmp_path, form)))
    image = encode(frame(), "PNG")
    ours, _ = run(handler, [image])
    theirs, _ = run(other, [image])
    for a, b in zip(ours[0]["probabilities"], theirs[0]["probabilities"], strict=True):
        assert a["probability"] == pytest.approx(b["probability"], abs=tolerance)


def test_every_real_screenshot_decodes_and_gets_an_answer(handler, screenshots):
    files = sorted(p for p in screenshots.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    assert len(files) > 100
    largest = 0
    for path in files:
        results, context = run(handler, [path.read_bytes()])
        assert context.statuses == {}, (path.name, results[0])
        assert_answer(results[0])
        with Image.open(path) as img:
            largest = max(largest, img.width * img.height)
    assert largest >= 3840 * 2160


def test_describe_tells_labels_calibration_and_provenance(handler):
    context = MockContext(handler.model_dir, "model.onnx", [{"describe": "True"}])
    described = json.loads(handler.handle([{}], context)[0])
    assert [entry["label"] for entry in described["labels"]] == list(LABELS)
    assert described["model"]["name"] == "fromsoft"
    assert "provenance" in described
    assert described["multi_image_requests"] == MAX_IMAGES  # the gateway sends batches to this handler
