"""The compose stack built and run under podman, checked through its published ports (make test-containers).

The images are built from the Dockerfiles (scripts/container_images.sh), the training profile trains
the tiny model into the fresh model-store volume, docker-compose.yml comes up unchanged, and every
service must pass its own healthcheck. Everything the project made is removed at the end.
"""

from __future__ import annotations

import io
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from inference.labels import LABELS
from launchers.gateway import WRITE_BEHIND_WAIT
from launchers.procs import free_port, wait_until
from tests.conftest import REPO
from tests.support.compose import LOCAL_REDIS_IMAGE, ComposeStack, podman, podman_env, require_container_tools

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]  # a cold build took 4-7 minutes here
PROJECT = "fromsoft-lens-test"
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
ARTIFACTS = REPO / "artifacts" / "containers"


def build_images() -> None:
    """The three images (podman's layer cache makes this quick when nothing changed)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    report = ARTIFACTS / "build.jsonl"
    report.unlink(missing_ok=True)
    proc = subprocess.run(
        ["bash", "scripts/container_images.sh"],
        cwd=REPO,
        env={**podman_env(), "BUILD_REPORT": str(report), "BUILD_LOG_DIR": str(ARTIFACTS)},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    (ARTIFACTS / "build.log").write_text(proc.stdout + proc.stderr)  # each base's and image's seconds
    if proc.returncode != 0:
        pytest.fail(
            f"building the images failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}", pytrace=False
        )


@pytest.fixture(scope="module")
def stack() -> Iterator[ComposeStack]:
    require_container_tools()
    build_images()
    env = {
        "WEB_PORT": str(free_port()),
        "TS_MANAGEMENT_PORT": str(free_port()),
        "REDIS_IMAGE": LOCAL_REDIS_IMAGE,
        "MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
        "TRAIN_ARCH": "tiny",
        "TRAIN_IMAGES": "280",
        "TS_TOKEN_EXPIRATION_MIN": "1",  # the token keeper renews them within the test's minutes
        "RATE_LIMIT": "100/minute",  # limits are tested on the native stack; here they get in the way
    }
    compose = ComposeStack(PROJECT, env, ARTIFACTS / "compose.log")
    compose.log_path.unlink(missing_ok=True)
    compose.down()  # what an interrupted earlier run left
    try:
        compose.compose("--profile", "training", "run", "--rm", "training", timeout=900)
        compose.compose("up", "-d", timeout=300)
        took = compose.wait_healthy(timeout=300)
        (ARTIFACTS / "healthy.json").write_text(json.dumps(took, indent=1))
        yield compose
    finally:
        for service in compose.services:  # the services' own output, for a failure's post-mortem
            with (ARTIFACTS / f"{service}.log").open("w") as log:
                subprocess.run(
                    ["podman", "logs", f"{PROJECT}_{service}_1"],
                    env=podman_env(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=60,
                    check=False,
                )
        compose.down()
    assert compose.leftovers() == {}, "compose down left these behind"


@pytest.fixture(scope="module")
def web(stack: ComposeStack) -> str:
    return f"http://127.0.0.1:{stack.env['WEB_PORT']}"


@pytest.fixture(scope="module")
def management_key(stack: ComposeStack) -> str:
    """The token from the ts-keys volume, read as the README tells an operator to."""
    key_file = podman("exec", stack.container("torchserve"), "cat", "key_file.json").stdout
    return json.loads(key_file)["management"]["key"]


def test_the_page_and_its_script_load_through_the_web_port(web):
    page = httpx.get(web + "/", timeout=10)
    assert page.status_code == 200
    assert '<div id="root">' in page.text
    script = page.text.split('<script type="module" crossorigin src="', 1)[1].split('"', 1)[0]
    asset = httpx.get(web + script, timeout=10)
    assert asset.status_code == 200
    assert "javascript" in asset.headers["content-type"]
    assert page.headers["x-frame-options"] == "DENY"


def test_a_real_screenshot_classifies_and_its_repeat_comes_from_the_cache(web, screenshots: Path):
    shot = next(p for p in sorted(screenshots.rglob("*.jpg")) if 200_000 < p.stat().st_size < 2_000_000)
    files = {"file": (shot.name, shot.read_bytes(), "image/jpeg")}
    first = httpx.post(f"{web}/api/v1/classify", files=files, timeout=60)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["cached"] is False
    assert body["label"] in (*LABELS, "unknown")
    assert {p["label"] for p in body["top_k"]} <= set(LABELS)
    time.sleep(WRITE_BEHIND_WAIT)
    repeat = httpx.post(f"{web}/api/v1/classify", files=files, timeout=60)
    assert repeat.status_code == 200, repeat.text
    assert repeat.json()["cached"] is True
    assert repeat.json()["sha256"] == body["sha256"]


def test_one_upload_is_found_by_its_id_in_the_web_gateway_and_torchserve_logs(stack, web):
    """The compose stack's logs are its containers' output: nginx's access log, the gateway's JSON lines
    and TorchServe's model log (the handler's line) all name the ID the answer carries."""
    pixels = np.random.default_rng(20).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    image = io.BytesIO()
    Image.fromarray(pixels).save(image, "JPEG")
    files = {"file": ("noise.jpg", image.getvalue(), "image/jpeg")}
    response = httpx.post(f"{web}/api/v1/classify", files=files, timeout=60)
    assert response.status_code == 200, response.text
    request_id = response.headers["X-Request-ID"]

    def logged(service: str) -> bool:
        logs = podman("logs", stack.container(service))
        return request_id in logs.stdout + logs.stderr

    wait_until(lambda: all(map(logged, ("web", "gateway", "torchserve"))), 30, f"{request_id} in every log")


@pytest.mark.parametrize(
    ("size", "who"),
    [(MAX_UPLOAD_BYTES + 1, "the gateway"), (MAX_UPLOAD_BYTES + 1024 * 1024, "nginx")],
    ids=["just-over-the-limit", "far-over-the-limit"],
)
def test_an_oversize_upload_gets_413_json(web, size, who):
    """One MAX_UPLOAD_BYTES reaches both: nginx stops a body far over it, the gateway one just over."""
    response = httpx.post(
        f"{web}/api/v1/classify", files={"file": ("big.jpg", b"\xff" * size, "image/jpeg")}, timeout=60
    )
    assert response.status_code == 413, (who, response.text)
    assert response.headers["content-type"].startswith("application/json"), who
    assert response.json()["error"]["code"] == "payload_too_large", who


def test_torchserve_management_answers_on_the_host_loopback_only(stack, web, management_key):
    port = stack.env["TS_MANAGEMENT_PORT"]
    models = httpx.get(
        f"http://127.0.0.1:{port}/models",
        headers={"Authorization": f"Bearer {management_key}"},
        timeout=10,
    )
    assert models.status_code == 200, models.text
    assert [m["modelName"] for m in models.json()["models"]] == ["fromsoft"]
    assert httpx.get(f"http://127.0.0.1:{port}/models", timeout=10).status_code in (400, 401)
    # Published on 127.0.0.1 alone, and nothing else of TorchServe's, Redis's or the gateway's is.
    bindings = {s: podman("port", stack.container(s)).stdout.split() for s in stack.services}
    assert bindings["torchserve"] == ["8081/tcp", "->", f"127.0.0.1:{port}"]
    assert bindings["redis"] == bindings["gateway"] == []
    assert bindings["web"] == ["8080/tcp", "->", f"0.0.0.0:{stack.env['WEB_PORT']}"]
    # Not through the web port.
    for path in ("/models", "/models/fromsoft", "/predictions/fromsoft", "/metrics", "/ping"):
        response = httpx.get(web + path, timeout=10)
        assert response.status_code == 404, path
        assert "modelName" not in response.text, path


def test_the_training_profile_trained_the_served_model_into_the_model_store_volume(stack, web):
    volume = f"{PROJECT}_model-store"
    mountpoint = Path(json.loads(podman("volume", "inspect", volume).stdout)[0]["Mountpoint"])
    archive = mountpoint / "fromsoft.mar"
    assert archive.is_file()
    assert archive.stat().st_uid == 1000  # written by the image's unprivileged user
    served = httpx.get(f"{web}/api/v1/models", timeout=10)
    assert served.status_code == 200, served.text
    assert served.json()["arch"] == "tiny"

    def worker_status() -> str:
        models = httpx.get(f"{web}/api/v1/models", timeout=10).json()["models"]
        return str(models[0]["versions"][0]["workers"][0]["status"])

    # The gateway's view of TorchServe is refreshed every MODEL_REFRESH_SECONDS (3): right after the
    # stack turns healthy it may still show the worker as it was while loading.
    wait_until(lambda: worker_status() == "READY", 10, "the gateway's view of the worker")
    assert worker_status() == "READY"


def test_redis_and_torchserve_sit_on_the_internal_network(stack):
    """Redis has no route out of the stack; TorchServe's second network only carries its published port."""
    networks = {
        s: sorted(json.loads(podman("inspect", stack.container(s)).stdout)[0]["NetworkSettings"]["Networks"])
        for s in stack.services
    }
    assert networks == {
        "redis": [f"{PROJECT}_backend"],
        "torchserve": [f"{PROJECT}_backend", f"{PROJECT}_management"],
        "token-keeper": [f"{PROJECT}_backend"],
        "gateway": [f"{PROJECT}_backend", f"{PROJECT}_frontend"],
        "web": [f"{PROJECT}_frontend"],
    }
    assert json.loads(podman("network", "inspect", f"{PROJECT}_backend").stdout)[0]["internal"] is True


def keeper_log(stack: ComposeStack) -> str:
    logs = podman("logs", stack.container("token-keeper"))
    return logs.stdout + logs.stderr


def test_the_token_keeper_renews_the_keys_and_the_gateway_follows(stack, web, screenshots: Path):
    """TorchServe's keys live one minute here: the keeper renews them and classifications go on."""
    keys_before = json.loads(podman("exec", stack.container("torchserve"), "cat", "key_file.json").stdout)
    deadline = time.monotonic() + 120
    while "renewed TorchServe's inference key" not in keeper_log(stack):
        assert time.monotonic() < deadline, "the token keeper renewed nothing in two minutes"
        time.sleep(2)
    keys_after = json.loads(podman("exec", stack.container("torchserve"), "cat", "key_file.json").stdout)
    assert keys_after["inference"]["key"] != keys_before["inference"]["key"]
    shot = sorted(screenshots.rglob("*.png"))[0]  # not sent before: the model answers, with the new key
    response = httpx.post(
        f"{web}/api/v1/classify", files={"file": (shot.name, shot.read_bytes(), "image/png")}, timeout=60
    )
    assert response.status_code == 200, response.text
    assert response.json()["cached"] is False
    assert stack.health("token-keeper") == "healthy"
