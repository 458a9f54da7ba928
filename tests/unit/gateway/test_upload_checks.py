"""What the gateway checks of an upload before TorchServe sees it: the image's size from its header (too
many pixels is a 413 at once, many pixels cost more rate-limit units), and refusals in fixed words, with
the parser's own in the log under the request's ID. In process with Starlette's test client; Redis and
TorchServe are unreachable ports, so an accepted image ends in a 503 and the limiter counts in process."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from benchmarks.common.costly_images import REFUSED, uniform_png
from gateway.config import Settings
from gateway.logs import JsonLines
from gateway.main import create_app

NOWHERE = "http://127.0.0.1:1"
SMALL = uniform_png(1920, 1080, "RGB")
LARGEST = uniform_png(7680, 2160, "RGBA", bytes([200, 30, 30, 128]))  # twice 4K: two units


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = Settings(
        redis_url="redis://127.0.0.1:1/0",
        torchserve_inference_url=NOWHERE,
        torchserve_management_url=NOWHERE,
        model_refresh_seconds=60,
        rate_limit="3/minute",
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def classify(client: TestClient, image: bytes) -> tuple[int, dict]:
    response = client.post("/api/v1/classify", content=image, headers={"Content-Type": "image/png"})
    return response.status_code, response.json()


def logged_under(caplog: pytest.LogCaptureFixture, request_id: str, logger: str) -> list[str]:
    """What ``logger`` said while serving ``request_id``, as the gateway's log lines carry it."""
    lines = [json.loads(line) for line in caplog.text.splitlines()]
    return [x["message"] for x in lines if x.get("request_id") == request_id and x["logger"] == logger]


@pytest.mark.parametrize(
    "image",
    [
        uniform_png(6000, 6000, "I;16", (30000).to_bytes(2, "big")),
        uniform_png(6000, 6000, "RGBA", bytes([200, 30, 30, 128])),
        uniform_png(7681, 2160, "RGB"),  # one column over the limit
    ],
    ids=["16-bit", "half-transparent", "just-over"],
)
def test_an_image_over_twice_4k_is_refused_from_its_header_at_once(client, image):
    started = time.perf_counter()
    status, body = classify(client, image)
    assert time.perf_counter() - started < 1.0
    assert status == 413
    assert body["error"]["code"] == "image_too_large"
    assert body["error"]["request_id"]


@pytest.mark.parametrize("shape", REFUSED)
def test_an_image_costlier_to_decode_than_the_limits_is_refused_before_torchserve_is_asked(client, shape):
    """The shared rule (inference.image_limits), as the handler applies it: an elongated image, a JPEG of
    too many scans or segments, a PNG of too many chunks, a WebP or multi-scan JPEG over the decoder's
    budget. TorchServe is unreachable here: an image it was asked about would get a 503."""
    make, status, code = REFUSED[shape]
    data = make()
    response = client.post(
        "/api/v1/classify", content=data, headers={"Content-Type": "application/octet-stream"}
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["request_id"]


def test_an_image_over_a_4k_frame_costs_a_rate_limit_unit_per_4k_frame(client):
    """3 a minute: three images of a 4K frame or less, but one of twice 4K leaves room for one more."""
    assert [classify(client, LARGEST)[0], classify(client, SMALL)[0]] == [503, 503]  # 2 + 1 units
    status, body = classify(client, SMALL)
    assert (status, body["error"]["code"]) == (429, "rate_limited")


def test_images_of_a_4k_frame_or_less_cost_one_unit_each(client):
    assert [classify(client, SMALL)[0] for _ in range(4)] == [503, 503, 503, 429]


def test_an_unreadable_header_is_a_400_in_fixed_words_and_pillows_go_to_the_log(client, caplog):
    caplog.handler.setFormatter(JsonLines())
    with caplog.at_level(logging.INFO, logger="gateway.validation"):
        status, body = classify(client, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    assert status == 400
    assert body["error"]["code"] == "invalid_image"
    assert body["error"]["message"] == "the PNG image is truncated or corrupt"
    [logged] = logged_under(caplog, body["error"]["request_id"], "gateway.validation")
    assert logged.startswith("unreadable PNG header: ")  # then Pillow's own words


def test_a_malformed_multipart_body_is_a_400_in_fixed_words_and_the_parsers_go_to_the_log(client, caplog):
    caplog.handler.setFormatter(JsonLines())
    with caplog.at_level(logging.INFO, logger="gateway.multipart"):
        response = client.post(
            "/api/v1/classify",
            content=b"--B\r\nContent-Disposition form-data\r\n\r\nx\r\n--B--\r\n",
            headers={"Content-Type": "multipart/form-data; boundary=B"},
        )
    request_id = response.headers["X-Request-ID"]
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid_multipart",
        "message": "the multipart body is malformed",
        "request_id": request_id,
    }
    [logged] = logged_under(caplog, request_id, "gateway.multipart")
    assert "invalid character" in logged  # python-multipart's own words, in the log only
