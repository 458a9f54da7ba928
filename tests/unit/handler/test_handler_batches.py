"""The handler in-process, batches: TorchServe's batches and multi-image requests mixing every kind of
request, each answered as it asked, a bad image failing alone in its place, and one log line each."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from handler import fromsoft_handler as handler_module
from inference.archive_digest import digest_of_folder
from inference.labels import LABELS
from inference.multi_image import COUNT_HEADER, field
from tests.unit.handler.conftest import MockContext, assert_answer, assert_error, encode, frame, run


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
