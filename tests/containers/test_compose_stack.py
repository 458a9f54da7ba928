"""The compose stack built and run under podman, checked through its published ports (make test-containers).

The images are built from the Dockerfiles (scripts/container_images.sh), the training profile trains
the tiny model into the fresh model-store volume and declares it, docker-compose.yml comes up unchanged
with two serving replicas, and every container must pass its own healthcheck. The `ops` service changes
the declared state, and both replicas follow before it returns. Everything the project made is removed
at the end.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from benchmarks.common.archives import new_archive
from inference.labels import LABELS
from launchers.gateway import WRITE_BEHIND_WAIT
from launchers.procs import free_ports, wait_until
from store import revision
from tests.support.compose import (
    ARTIFACTS,
    LOCAL_PROMETHEUS_IMAGE,
    LOCAL_REDIS_IMAGE,
    ComposeStack,
    podman,
    podman_env,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]  # a cold build took 4-7 minutes here
PROJECT = "fromsoft-lens-test"
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
RATE_LIMIT_PER_MINUTE = 100
WEB_EDGE_ADDRESS = "192.168.214.2"  # docker-compose.yml's default (EDGE_NET)


@pytest.fixture(scope="module")
def stack(images: None) -> Iterator[ComposeStack]:
    web_port, prometheus_port = free_ports(2)
    env = {
        "WEB_PORT": str(web_port),
        "SERVING_REPLICAS": "2",
        "REDIS_IMAGE": LOCAL_REDIS_IMAGE,
        "PROMETHEUS_IMAGE": LOCAL_PROMETHEUS_IMAGE,  # the monitoring profile's, started by its own test
        "PROMETHEUS_PORT": str(prometheus_port),
        "MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
        "TRAIN_ARCH": "tiny",
        "TRAIN_IMAGES": "280",
        "TS_TOKEN_EXPIRATION_MIN": "1",  # the reconciler renews them within the test's minutes
        # limits are tested on the native stack; here they get in the way, except where a test spends one
        "RATE_LIMIT": f"{RATE_LIMIT_PER_MINUTE}/minute",
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
        for container in [c["Names"][0] for c in compose.containers()]:  # for a failure's post-mortem
            with (ARTIFACTS / f"{container}.log").open("w") as log:
                subprocess.run(
                    ["podman", "logs", container],
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


def keys_of(stack: ComposeStack, replica: str) -> dict:
    """TorchServe's key file inside one serving replica (no volume holds it)."""
    return json.loads(podman("exec", replica, "cat", "/tmp/torchserve/key_file.json").stdout)


def ops(stack: ComposeStack, *args: str) -> subprocess.CompletedProcess[str]:
    """`compose run --rm ops ARGS`, as the README tells an operator."""
    return stack.compose("--profile", "ops", "run", "--rm", "ops", *args, timeout=300)


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
    """The compose stack's logs are its containers' output: nginx's access log in web's, and in the serving
    replica that answered, the gateway's JSON line and TorchServe's model log (the handler's line), each
    naming the ID the answer carries."""
    pixels = np.random.default_rng(20).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    image = io.BytesIO()
    Image.fromarray(pixels).save(image, "JPEG")
    files = {"file": ("noise.jpg", image.getvalue(), "image/jpeg")}
    response = httpx.post(f"{web}/api/v1/classify", files=files, timeout=60)
    assert response.status_code == 200, response.text
    request_id = response.headers["X-Request-ID"]

    def lines(container: str) -> list[str]:
        logs = podman("logs", container)
        return [line for line in (logs.stdout + logs.stderr).splitlines() if request_id in line]

    def everywhere() -> bool:
        serving = [line for name in stack.replicas("serving") for line in lines(name)]
        gateway = [line for line in serving if '"logger":"gateway.access"' in line]
        handler = [line for line in serving if "MODEL_LOG" in line]
        return bool(lines(stack.container("web")) and gateway and handler)

    wait_until(everywhere, 30, f"{request_id} in every log")


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


def test_nothing_but_the_web_port_is_published_and_management_stays_inside_each_unit(stack, web):
    bindings = {name: podman("port", name).stdout.split() for name in stack.replicas("serving")}
    assert bindings == {name: [] for name in stack.replicas("serving")}
    assert podman("port", stack.container("redis")).stdout.split() == []
    web_port = podman("port", stack.container("web")).stdout.split()
    assert web_port == ["8080/tcp", "->", f"0.0.0.0:{stack.env['WEB_PORT']}"]
    # TorchServe's management API answers on the unit's loopback, with the key that stays in the unit.
    replica = stack.replicas("serving")[0]
    key = keys_of(stack, replica)["management"]["key"]
    script = (
        "import urllib.request, sys; r = urllib.request.Request('http://127.0.0.1:8081/models', "
        f"headers={{'Authorization': 'Bearer {key}'}}); print(urllib.request.urlopen(r).read().decode())"
    )
    models = podman("exec", replica, "python", "-c", script)
    assert [m["modelName"] for m in json.loads(models.stdout)["models"]] == ["fromsoft"]
    gateway_keys = podman("exec", replica, "cat", "/tmp/unit/gateway-keys.json").stdout
    assert list(json.loads(gateway_keys)) == ["inference"]
    for path in ("/models", "/models/fromsoft", "/predictions/fromsoft", "/metrics", "/ping"):
        response = httpx.get(web + path, timeout=10)
        assert response.status_code == 404, path
        assert "modelName" not in response.text, path


def test_the_training_profile_trained_the_served_model_into_the_model_store_volume(stack, web):
    archive = store_of(stack) / "fromsoft.mar"
    assert archive.is_file()
    assert archive.stat().st_uid == 1000  # written by the image's unprivileged user
    assert "fromsoft.mar" in (store_of(stack) / "models.yaml").read_text()  # and declared
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


def address_on(container: str, network: str) -> str:
    """A container's address on one of the project's networks."""
    networks = json.loads(podman("inspect", container).stdout)[0]["NetworkSettings"]["Networks"]
    return str(networks[f"{PROJECT}_{network}"]["IPAddress"])


def test_redis_and_the_serving_units_sit_on_internal_networks_and_web_at_its_fixed_address(stack):
    """Redis and the serving units have no route out of the stack; web meets the gateways on the edge
    network at the one address they believe X-Forwarded-For from, and is published on `public`."""
    networks = {
        s: sorted(json.loads(podman("inspect", stack.container(s)).stdout)[0]["NetworkSettings"]["Networks"])
        for s in stack.services
    }
    assert networks == {
        "redis": [f"{PROJECT}_backend"],
        "postgres": [f"{PROJECT}_backend"],
        "serving": [f"{PROJECT}_backend", f"{PROJECT}_edge"],
        "web": [f"{PROJECT}_edge", f"{PROJECT}_public"],
    }
    for network in ("backend", "edge"):
        assert json.loads(podman("network", "inspect", f"{PROJECT}_{network}").stdout)[0]["internal"] is True
    assert address_on(stack.container("web"), "edge") == WEB_EDGE_ADDRESS


# Sends GET /api/v1/models to a gateway, each time as another client named in X-Forwarded-For, until a
# 429 or twice the limit (a window that turns over midway counts afresh). Prints each status, and "kept"
# for an answer that carries the X-Request-ID the sender chose.
FORGED_CLIENTS = """
import sys, urllib.error, urllib.request
for i in range(2 * int(sys.argv[2]) + 1):
    forged = {"X-Forwarded-For": f"198.51.100.{i % 250}", "X-Request-ID": "forged-by-the-sender"}
    request = urllib.request.Request(sys.argv[1] + "/api/v1/models", headers=forged)
    try:
        answer = urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as refused:
        answer = refused
    print(answer.status, "kept" if answer.headers["X-Request-ID"] == forged["X-Request-ID"] else "")
    if answer.status == 429:
        break
"""


def test_a_forged_x_forwarded_for_sent_straight_to_a_gateway_does_not_choose_the_bucket(stack):
    """From the host and from another container, a gateway reached directly counts every request against
    the sender's own address, whatever client X-Forwarded-For names, and keeps none of its X-Request-IDs;
    only web's (tests above: the ID nginx sent is in the gateway's log) are believed."""
    first, second = stack.replicas("serving")
    sent = [FORGED_CLIENTS, f"http://{address_on(first, 'edge')}:8001", str(RATE_LIMIT_PER_MINUTE)]
    from_host = subprocess.run([sys.executable, "-c", *sent], capture_output=True, text=True, timeout=300)
    from_container = podman("exec", second, "python3", "-c", *sent, timeout=300)
    for sender, output in (("the host", from_host.stdout), ("another serving unit", from_container.stdout)):
        answers = output.splitlines()
        assert "kept" not in output, f"{sender}: the gateway kept the X-Request-ID it chose"
        assert answers[-1].split() == ["429"], f"{sender}: {len(answers)} clients named, never limited"
        assert {answer.split()[0] for answer in answers[:-1]} == {"200"}, sender


# Whether a TCP connection to argv[1]:argv[2] opens, or the error that stopped it.
CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()
    print("open")
except OSError as error:
    print(type(error).__name__)
"""


def test_web_reaches_a_units_gateway_and_nothing_else_of_it_and_its_metrics_only_on_the_backend(stack):
    """TorchServe's metrics API listens on the backend network alone (where Prometheus scrapes it, and a
    unit stands in for Prometheus here), the gateway on the edge network alone, TorchServe's other
    listeners on loopback."""
    first, second = stack.replicas("serving")
    web = stack.container("web")
    edge, backend = address_on(first, "edge"), address_on(first, "backend")

    def reach(container: str, host: str, port: int) -> str:
        return podman("exec", container, "python3", "-c", CONNECT, host, str(port)).stdout.strip()

    assert reach(web, edge, 8001) == "open"
    for port in (8080, 8081, 8082):  # inference, management, metrics
        assert reach(web, edge, port) == "ConnectionRefusedError", port
    assert reach(web, backend, 8082) != "open"  # no route from web to the backend network
    assert reach(second, backend, 8082) == "open"
    for port in (8001, 8080, 8081):
        assert reach(second, backend, port) == "ConnectionRefusedError", port


def test_the_monitoring_profile_scrapes_every_replicas_gateway_and_torchserve(stack):
    """compose's Prometheus finds both replicas' gateways on the edge network and their TorchServe metrics
    APIs on the backend network, by the aliases each carries there, and every target answers."""
    stack.compose("--profile", "monitoring", "up", "-d", "prometheus", timeout=300)
    prometheus = f"http://127.0.0.1:{stack.env['PROMETHEUS_PORT']}"

    def targets() -> list[tuple[str, str]]:
        try:
            active = httpx.get(f"{prometheus}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        except (httpx.HTTPError, ValueError):
            return []
        return sorted((target["labels"]["job"], target["health"]) for target in active)

    every = [("gateway", "up")] * 2 + [("torchserve", "up")] * 2
    wait_until(lambda: targets() == every, 120, "both replicas' targets up")


def test_the_reconcilers_renew_the_keys_and_the_gateways_follow(stack, web, screenshots: Path):
    """TorchServe's keys live one minute here: each replica's reconciler renews its own, and
    classifications go on through both."""
    replicas = stack.replicas("serving")

    def renewals(name: str) -> int:
        logs = podman("logs", name)
        return (logs.stdout + logs.stderr).count("renewed TorchServe's inference key")

    # Counted from here: the tests before may have run past a replica's first renewal.
    before = {name: keys_of(stack, name) for name in replicas}
    renewed = {name: renewals(name) for name in replicas}
    wait_until(lambda: all(renewals(n) > renewed[n] for n in replicas), 120, "a renewal in every replica")
    for name in replicas:
        assert keys_of(stack, name)["inference"]["key"] != before[name]["inference"]["key"]
    assert before[replicas[0]]["inference"]["key"] != before[replicas[1]]["inference"]["key"]
    for shot in sorted(screenshots.rglob("*.png"))[:4]:  # not sent before: the models answer, new keys
        response = httpx.post(
            f"{web}/api/v1/classify", files={"file": (shot.name, shot.read_bytes(), "image/png")}, timeout=60
        )
        assert response.status_code == 200, response.text
        assert response.json()["cached"] is False
    assert all(stack.health(name) == "healthy" for name in replicas)


def test_the_ops_service_switches_the_default_on_every_replica_before_it_returns(stack, web, frames_for_test):
    store = store_of(stack)
    new_archive(store, store / "fromsoft.mar", "2.0")
    (store / "fromsoft-2.0.mar").chmod(0o644)
    switched = ops(stack, "add", "fromsoft-2.0.mar", "--default", "--timeout", "240")
    assert "every running replica serves revision" in switched.stdout
    shown = json.loads(ops(stack, "show", "--json").stdout)
    assert len(shown["replicas"]) == 2
    assert all(r["converged"] and r["serving"]["fromsoft"]["default"] == "2.0" for r in shown["replicas"])
    for image in frames_for_test:  # spread over both replicas by nginx
        response = httpx.post(
            f"{web}/api/v1/classify", files={"file": ("f.jpg", image, "image/jpeg")}, timeout=60
        )
        assert response.status_code == 200, response.text
        assert response.json()["model"]["version"] == "2.0"


VOTE = """
import hashlib, json, sys
import httpx
gateway, image = sys.argv[1], sys.stdin.buffer.read()
fields = {"sha256": (None, hashlib.sha256(image).hexdigest()), "verdict": (None, "not_a_game")}
fields["file"] = ("f.jpg", image, "image/jpeg")
fields["share"] = (None, "true")
answer = httpx.post(gateway + "/api/v1/feedback", files=fields, timeout=60)
print(json.dumps({"status": answer.status_code, **answer.json()}))
"""


def gateway_of(replica: str) -> str:
    """Where a unit's gateway listens: its address on the edge network (docker/serving-unit.sh)."""
    return podman("exec", replica, "cat", "/tmp/unit/gateway-url").stdout.strip()


def vote_inside(replica: str, image: bytes, gateway: str | None = None) -> dict:
    """A vote with its screenshot, shared, sent from inside ``replica``'s container to ``gateway`` (its
    own unit's by default): the visitor a gateway sees is that container's address on the edge network,
    the same whichever unit's gateway it reaches."""
    proc = subprocess.run(
        ["podman", "exec", "-i", replica, "python", "-c", VOTE, gateway or gateway_of(replica)],
        input=image,
        env=podman_env(),
        capture_output=True,
        timeout=120,
        check=True,
    )
    return json.loads(proc.stdout)


def test_two_replicas_write_feedback_to_one_postgres_and_each_sees_the_others(stack, frames_for_test):
    """The first replica records a vote (201); the second, for the same image and visitor, finds it and
    updates it (200): one PostgreSQL behind both, reached with the password from the secret volume."""
    first, second = stack.replicas("serving")
    votes = [
        vote_inside(first, frames_for_test[0]),
        vote_inside(first, frames_for_test[0], gateway_of(second)),
    ]
    assert [vote["status"] for vote in votes] == [201, 200], votes
    assert votes[1]["feedback"]["updated"] is True
    assert votes[0]["feedback"]["shared"] is True
    query = 'PGPASSWORD="$(cat /secrets/postgres-password)" psql -h 127.0.0.1 -U lens -d lens -tA' + "".join(
        f' -c "{sql}"'
        for sql in (
            "SELECT count(*) FROM votes",
            "SELECT count(*) FROM shared_images",
            "SELECT version_num FROM alembic_version",
        )
    )
    counts = podman("exec", stack.container("postgres"), "sh", "-c", query).stdout.split()
    assert counts == ["1", "1", revision.HEAD]


def test_the_review_tool_runs_in_the_ops_service_on_the_votes_the_replicas_wrote(stack, frames_for_test):
    """`compose run --rm --entrypoint "python -m ops.feedback" ops ...`, as docs/operations.md tells an
    operator: the ops service reaches the stack's PostgreSQL with the secret volume's password."""
    image = frames_for_test[1]
    assert vote_inside(stack.replicas("serving")[0], image)["status"] == 201
    sha = hashlib.sha256(image).hexdigest()

    def review(*args: str) -> str:
        entry = ("--entrypoint", "python -m ops.feedback")
        return stack.compose("--profile", "ops", "run", "--rm", *entry, "ops", *args, timeout=300).stdout

    queue = {entry["sha256"]: entry for entry in json.loads(review("list", "--json"))["queue"]}
    assert queue[sha]["verdicts"] == {"not_a_game": 1}
    assert "feedback: fixed 1 image(s) as ci; labelled sekiro" in review(
        "fix", sha[:8], "--label", "sekiro", "--reviewer", "ci"
    )
    assert sha not in review("list", "--json")


def store_of(stack: ComposeStack) -> Path:
    """The model-store volume, as the host sees it."""
    volume = f"{PROJECT}_model-store"
    return Path(json.loads(podman("volume", "inspect", volume).stdout)[0]["Mountpoint"])


@pytest.fixture
def frames_for_test() -> list[bytes]:
    """Images never sent before (noise frames)."""
    out = []
    for seed in range(6):
        pixels = np.random.default_rng(100 + seed).integers(0, 256, (360, 640, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG")
        out.append(buffer.getvalue())
    return out
