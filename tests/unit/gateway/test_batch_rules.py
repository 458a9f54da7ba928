"""The batch endpoint's own rules, in process with Starlette's test client: how many files, how large,
each file judged alone, what it costs against the rate limits and how a refusal says so, and how the
misses are packed into requests to TorchServe. Redis and TorchServe are unreachable ports, so a batch
with a good image ends in a 503 and the limiter counts in process; the real stack is
tests/integration/gateway/test_batch.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from benchmarks.common.costly_images import uniform_png
from gateway.batch import packed
from gateway.batch_upload import parse_count
from gateway.config import Settings
from gateway.errors import ApiError
from gateway.in_flight import InFlightLimit
from gateway.main import create_app
from gateway.services import Services
from gateway.use_cases import batch_files_that_fit
from gateway.validation import Upload
from inference.formats import BATCH_UPLOADS
from inference.multi_image import MAX_IMAGES

NOWHERE = "http://127.0.0.1:1"
GOOD = uniform_png(640, 360, "RGB")


def settings(**overrides: object) -> Settings:
    values = {
        "redis_url": "redis://127.0.0.1:1/0",
        "torchserve_inference_url": NOWHERE,
        "model_refresh_seconds": 60,
        "rate_limit": "1000/minute",
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(settings()), raise_server_exceptions=False) as test_client:
        yield test_client


def send(client: TestClient, files: list[bytes], **params: object):
    form = [("files", (f"{i}.png", image, "image/png")) for i, image in enumerate(files)]
    return client.post("/api/v1/classify/batch", files=form, params=params)


def test_a_batch_of_files_that_all_fail_alone_answers_each_in_its_place_without_the_model(client):
    files = [b"notes, not an image", b"", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, uniform_png(7681, 2160, "RGB")]
    response = send(client, files)
    assert response.status_code == 200, response.text
    errors = [result["error"] for result in response.json()["results"]]
    codes = ["unsupported_media_type", "empty_payload", "invalid_image", "image_too_large"]
    assert [error["code"] for error in errors] == codes
    assert {error["request_id"] for error in errors} == {response.headers["X-Request-ID"]}


def test_a_file_over_the_upload_limit_is_refused_alone_and_never_held_whole():
    small = settings(max_upload_bytes=200_000)
    with TestClient(create_app(small), raise_server_exceptions=False) as client:
        response = send(client, [b"\x89PNG\r\n\x1a\n" + bytes(300_000), b"text"])
    assert response.status_code == 200, response.text
    codes = [result["error"]["code"] for result in response.json()["results"]]
    assert codes == ["payload_too_large", "unsupported_media_type"]


def test_a_good_file_among_bad_ones_needs_the_model_and_its_absence_fails_the_batch(client):
    response = send(client, [GOOD, b"text"])
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "model_unavailable"


def test_more_files_than_batch_max_files_is_a_422(client):
    response = send(client, [b"x"] * 17)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "too_many_files"


def test_a_declared_count_over_batch_max_files_is_refused_before_the_body(client):
    response = send(client, [b"x"] * 17, count=17)
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "count: must be a whole number from 1 to 16"


def test_a_body_over_the_batchs_limit_is_a_413_from_its_declared_length():
    small = settings(max_upload_bytes=100_000)
    with TestClient(create_app(small), raise_server_exceptions=False) as client:
        response = send(client, [bytes(90_000)] * (BATCH_UPLOADS + 2))  # 540 KB over 465 KB
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "payload_too_large",
        "message": f"the batch is larger than {small.max_batch_body_bytes / 2**20:g} MB",
        "request_id": response.headers["X-Request-ID"],
    }


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b"x", {"Content-Type": "image/png"}, 415, "unsupported_media_type"),
        (b"--B\r\n\r\n--B--\r\n", {"Content-Type": "multipart/form-data; boundary=B"}, 422, "missing_file"),
    ],
)
def test_a_batch_is_multipart_field_files(client, body, headers, status, code):
    response = client.post("/api/v1/classify/batch", content=body, headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_a_declared_count_must_be_what_the_body_holds(client):
    response = send(client, [b"x", b"y"], count=3)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "count_mismatch"


@pytest.mark.parametrize(("raw", "expected"), [(None, None), ("1", 1), ("16", 16)])
def test_a_count_from_one_to_the_limit_is_accepted(raw, expected):
    assert parse_count(raw, 16) == expected


@pytest.mark.parametrize("raw", ["0", "-1", "x", "٣", "17", "99999"])
def test_any_other_count_is_refused_before_the_body(raw):
    with pytest.raises(ApiError) as refused:
        parse_count(raw, 16)
    assert refused.value.status == 422


def test_a_declared_batch_over_the_remaining_budget_is_refused_before_its_body_and_says_so():
    """3 a minute: a declared batch of 2 passes; the next declared batch of 2 finds 1 left."""
    with TestClient(create_app(settings(rate_limit="3/minute")), raise_server_exceptions=False) as client:
        assert send(client, [b"a", b"b"], count=2).status_code == 200  # both refused alone: no model
        refused = send(client, [b"a", b"b"], count=2)
    assert refused.status_code == 429
    message = refused.json()["error"]["message"]
    assert message.startswith("this batch of 2 files costs 2 units and only 1 are left in this window")
    assert "send at most 1 files now" in message
    assert int(refused.headers["Retry-After"]) >= 1


def test_an_undeclared_batch_pays_for_its_files_once_counted():
    """3 a minute: one unit before the body, two more once three files are counted; then nothing is left."""
    with TestClient(create_app(settings(rate_limit="3/minute")), raise_server_exceptions=False) as client:
        assert send(client, [b"a", b"b", b"c"]).status_code == 200
        refused = send(client, [b"a"])
    assert refused.status_code == 429
    assert refused.json()["error"]["message"].startswith("too many requests")


AT_THE_CAP = uniform_png(7680, 2160, "RGB")  # MAX_IMAGE_PIXELS exactly: two units


def test_a_batch_costing_more_than_the_window_is_refused_with_a_429_that_says_so():
    """3 a minute: a declared batch of 5 is refused before its body and takes nothing; an undeclared one
    once its files are counted, keeping the one unit it paid ahead. Neither says to wait."""
    app = create_app(settings(rate_limit="3/minute;10/hour"))
    with TestClient(app, raise_server_exceptions=False) as client:
        declared = send(client, [b"x"] * 5, count=5)
        counted = send(client, [b"x"] * 5)
        assert send(client, [b"a", b"b"], count=2).status_code == 200  # 2 of 3 left: both refused alone
        assert send(client, [b"a"], count=1).status_code == 429  # the third went to the undeclared one
    for refused, advice in ((declared, "send fewer files"), (counted, "send fewer or smaller images")):
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "cost_exceeds_limit"
        assert refused.json()["error"]["message"] == (
            f"this batch of 5 files costs 5 units; the limit allows 3 per minute: {advice}"
        )
        assert "Retry-After" not in refused.headers


def test_sixteen_images_at_the_pixel_cap_cost_32_units_and_are_refused_under_10_a_minute():
    with TestClient(create_app(settings(rate_limit="10/minute")), raise_server_exceptions=False) as client:
        refused = send(client, [AT_THE_CAP] * 16)
        assert send(client, [b"a"] * 9, count=9).status_code == 200  # 9 of 10 left: one kept
        assert send(client, [b"a"], count=1).status_code == 429
    assert refused.status_code == 429
    assert refused.json()["error"]["message"] == (
        "this batch of 16 files costs 32 units; the limit allows 10 per minute: send fewer or smaller images"
    )


def test_a_batch_refused_for_its_pixels_gives_back_all_it_paid_ahead_but_one_unit():
    """4 a minute: a declared batch of 3 pays 3 ahead; its images at the cap cost 6, over the window."""
    with TestClient(create_app(settings(rate_limit="4/minute")), raise_server_exceptions=False) as client:
        refused = send(client, [AT_THE_CAP] * 3, count=3)
        assert send(client, [b"a"] * 3, count=3).status_code == 200  # 3 left: 2 came back
        assert send(client, [b"a"], count=1).status_code == 429
    assert refused.json()["error"]["code"] == "cost_exceeds_limit"


@pytest.mark.parametrize(
    ("limits", "image", "status", "code"),
    [
        ("10/minute;3/second", GOOD, 429, "cost_exceeds_limit"),  # 5 units: more than a second holds
        (Settings().rate_limit, AT_THE_CAP, 503, "model_unavailable"),  # the default holds the costliest
    ],
    ids=["three-a-second", "default"],
)
def test_an_explanation_is_refused_at_once_only_where_no_window_holds_it(limits, image, status, code):
    with TestClient(create_app(settings(rate_limit=limits)), raise_server_exceptions=False) as client:
        response = client.post("/api/v1/explain", files={"file": ("a.png", image, "image/png")})
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    if code == "cost_exceeds_limit":
        assert response.json()["error"]["message"] == (
            "this explanation costs 5 units; the limit allows 3 per second: "
            "the limits of this service do not allow it"
        )


@pytest.mark.parametrize(
    ("limits", "files"), [("10/minute;6/second", 3), ("10/minute", 5), ("1/minute", 1), ("1000/minute", 16)]
)
def test_the_models_view_offers_batches_that_fit_the_tightest_window_at_any_size(limits, files):
    """What the page and the CLI pack by: files at the pixel cap, two units each, within the window."""
    assert batch_files_that_fit(Services.build(settings(rate_limit=limits))) == files


def upload(size: int) -> Upload:
    return Upload(bytearray(size), "image/png", 1)


def test_misses_are_packed_in_order_into_requests_within_torchserves_limit():
    sizes = [400, 300, 200, 900, 1000, 100]
    requests = packed([(str(i), upload(size)) for i, size in enumerate(sizes)], 1000)
    assert [[digest for digest, _ in request] for request in requests] == [
        ["0", "1", "2"],
        ["3"],
        ["4"],
        ["5"],
    ]
    assert len(packed([(str(i), upload(1)) for i in range(MAX_IMAGES + 1)], 10**9)) == 2


def test_a_batch_takes_as_many_places_under_the_in_flight_cap_as_uploads_it_may_hold():
    released = asyncio.Event()
    statuses: list[int] = []

    async def app(scope, receive, send):  # holds every request until released
        await released.wait()

    async def call(limit: InFlightLimit, path: str) -> None:
        async def record(message):
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await limit({"type": "http", "path": path, "headers": []}, None, record)

    async def run() -> None:
        limit = InFlightLimit(app, 5, {"/api/v1/classify/batch": 4})
        held = [asyncio.create_task(call(limit, p)) for p in ("/api/v1/classify/batch", "/api/v1/classify")]
        await asyncio.sleep(0)
        await call(limit, "/api/v1/classify/batch")  # 4 + 1 taken of 5: no room for 4 more
        await call(limit, "/api/v1/classify")
        released.set()
        await asyncio.gather(*held)

    asyncio.run(run())
    assert statuses == [503, 503]


def test_a_text_field_named_files_is_not_a_file_and_refuses_the_batch(client):
    body = b'--B\r\nContent-Disposition: form-data; name="files"\r\n\r\n{}\r\n--B--\r\n'
    response = client.post(
        "/api/v1/classify/batch", content=body, headers={"Content-Type": "multipart/form-data; boundary=B"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "each part of the field 'files' must be a file"


def test_one_image_costing_more_than_the_window_is_refused_and_keeps_the_unit_its_body_cost():
    with TestClient(create_app(settings(rate_limit="1/minute")), raise_server_exceptions=False) as client:
        refused = client.post("/api/v1/classify", files={"file": ("a.png", AT_THE_CAP, "image/png")})
        after = client.post("/api/v1/classify", files={"file": ("b.png", GOOD, "image/png")})
    assert refused.status_code == 429
    assert refused.json()["error"] == {
        "code": "cost_exceeds_limit",
        "message": "this image costs 2 units; the limit allows 1 per minute: send a smaller image",
        "request_id": refused.headers["X-Request-ID"],
    }
    assert after.json()["error"]["code"] == "rate_limited"  # its body was read: that unit stays spent
