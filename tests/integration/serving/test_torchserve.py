"""Our archive in a real TorchServe: inference, tokens, explanations, and registration pinned to the store
(declared-state changes: tests/integration/serving/test_declared_state.py)."""

from __future__ import annotations

import httpx
import pytest

from inference.labels import LABELS
from inference.multi_image import COUNT_HEADER, field
from launchers.torchserve import TorchServe
from ops.torchserve_api import ManagementClient, ManagementError


@pytest.fixture(scope="module")
def frame(synthetic_data) -> bytes:
    return sorted((synthetic_data / "FromSoftwareImages" / "elden ring").glob("*.jpg"))[0].read_bytes()


@pytest.fixture
def manager(torchserve: TorchServe) -> ManagementClient:
    return ManagementClient(torchserve.management_url, torchserve.key_file)


def test_archive_loads_with_every_worker_ready(torchserve, manager):
    described = manager.default("fromsoft")
    assert described[0]["modelVersion"] == "1.0"
    assert described[0]["workers"]
    assert all(w["status"] == "READY" for w in described[0]["workers"])


def test_a_synthetic_frame_is_classified_through_the_inference_api(torchserve, frame):
    response = torchserve.predict(frame)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["label"] == "elden_ring"
    assert [p["label"] for p in body["probabilities"]] != []
    assert {p["label"] for p in body["probabilities"]} == set(LABELS)
    assert body["model"]["version"] == "1.0"


def test_a_real_4k_screenshot_is_classified(torchserve, screenshots):
    path = next(p for p in sorted(screenshots.rglob("*.jpg")) if p.stat().st_size > 1_000_000)
    response = torchserve.predict(path.read_bytes())
    assert response.status_code == 200, response.text
    assert response.json()["probabilities"]


def test_several_images_in_one_multipart_request_are_answered_as_one_list(torchserve, frame):
    """TorchServe hands the handler each multipart field by name and the request's own headers."""
    images = [frame, b"not an image", frame[: len(frame) // 2]]
    files = {field(i): (f"{i}.jpg", image, "image/jpeg") for i, image in enumerate(images)}
    headers = {COUNT_HEADER: str(len(images)), **torchserve.headers("inference")}
    response = httpx.post(
        f"{torchserve.inference_url}/predictions/fromsoft", files=files, headers=headers, timeout=60
    )
    assert response.status_code == 200, response.text
    answers = response.json()
    assert answers[0]["probabilities"] == torchserve.predict(frame).json()["probabilities"]
    assert [a.get("error", {}).get("code") for a in answers] == [
        None,
        "unsupported_media_type",
        "invalid_image",
    ]


def test_a_request_without_the_token_is_refused(torchserve, frame):
    response = torchserve.predict(frame, token=False)
    assert response.status_code in (400, 401)
    assert "Token" in response.text


def test_a_text_file_is_refused_with_a_json_415(torchserve):
    response = torchserve.predict(b"hello, not an image", content_type="image/png")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_an_explanation_is_a_gradcam_grid(torchserve, frame):
    response = torchserve.predict(frame, endpoint="explanations")
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["heatmap"]) == body["rows"]
    assert all(0.0 <= v <= 1.0 for row in body["heatmap"] for v in row)


def test_registration_only_accepts_archives_already_in_the_store(manager):
    for url in ("http://127.0.0.1:9/evil.mar", "file:///etc/passwd", "../fromsoft.mar"):
        with pytest.raises(ManagementError, match="404"):
            manager.register(url, workers=1)


def test_prometheus_metrics_are_served_on_the_metrics_port(torchserve, frame):
    torchserve.predict(frame)
    response = httpx.get(f"{torchserve.metrics_url}/metrics", timeout=10)
    assert response.status_code == 200
    assert "ts_inference_requests_total" in response.text
