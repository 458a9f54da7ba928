"""The native stack as a user runs it: scripts/stack.sh up, classify through nginx, down, nothing left."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from launchers import REPO
from launchers.gateway import WRITE_BEHIND_WAIT
from launchers.procs import port_open, wait_until
from launchers.stack import PORTS, NativeStack, stack
from ops.stack_database import StoreToolSettings
from tests.support.feedback import held, post_feedback


def noise_png(width: int, height: int) -> bytes:
    """An incompressible PNG of about ``3 * width * height`` bytes."""
    pixels = np.random.default_rng(width).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=0)
    return buffer.getvalue()


def test_up_classify_cache_private_logs_and_down_leaves_nothing_behind(
    model_store: Path, synthetic_data: Path, tmp_path: Path
):
    native = NativeStack(
        tmp_path / "var",
        model_store,
        RATE_LIMIT="100/minute",
        MAX_UPLOAD_BYTES=str(8 * 1024 * 1024),  # one setting for nginx, gateway, TorchServe, handler
        LOG_MAX_SIZE="1k",  # rotated at once, checked every second
        LOG_ROTATE_SECONDS="1",
        FEEDBACK_RETENTION_DAYS="45",  # for the review tool, which finds it in stack.env
        DATABASE_PASSWORD_FILE=str(tmp_path / "unused-password"),  # SQLite's file needs none
    )
    earlier = tmp_path / "var" / "log" / "gateway-1.log"  # an earlier run's, from before logs were private
    earlier.parent.mkdir(parents=True)
    earlier.write_text("an earlier run's line\n")
    earlier.chmod(0o644)
    up = stack("up", native.env)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert native.web in up.stdout
        again = stack("up", native.env)
        assert "already running" in again.stdout

        web = native.web
        image = sorted((synthetic_data / "FromSoftwareImages" / "sekiro").glob("*.jpg"))[0].read_bytes()
        first = httpx.post(
            f"{web}/api/v1/classify", files={"file": ("s.jpg", image, "image/jpeg")}, timeout=60
        )
        assert first.status_code == 200, first.text
        assert first.json()["cached"] is False
        time.sleep(WRITE_BEHIND_WAIT)
        second = httpx.post(
            f"{web}/api/v1/classify", files={"file": ("s.jpg", image, "image/jpeg")}, timeout=60
        )
        assert second.json()["cached"] is True
        # Feedback: the SQLite file under var/, migrated by stack.sh before the gateways; no server.
        vote = post_feedback(web, first.json()["sha256"], "not_a_game")
        assert vote.status_code == 201, vote.text
        assert len(held(f"sqlite:///{tmp_path / 'var' / 'lens.sqlite3'}").votes) == 1
        # The review tool where `make up` ran, with nothing in its environment, finds that vote.
        listed = review_tool(tmp_path, "list", "--json")
        assert [(e["sha256"], e["verdicts"]) for e in json.loads(listed)["queue"]] == [
            (first.json()["sha256"], {"not_a_game": 1})
        ]
        assert "shared over 45 days ago" in review_tool(tmp_path, "prune", "--dry-run")
        assert (
            StoreToolSettings(var_dir=tmp_path / "var").database_password_file == tmp_path / "unused-password"
        )
        for path in ("/models", "/predictions/fromsoft", "/metrics", "/ping"):
            assert httpx.get(web + path).status_code == 404

        seven_mb = noise_png(1600, 1600)
        assert 7 * 1024 * 1024 < len(seven_mb) < 8 * 1024 * 1024
        big = httpx.post(
            f"{web}/api/v1/classify", files={"file": ("big.png", seven_mb, "image/png")}, timeout=60
        )
        assert big.status_code == 200, big.text
        assert httpx.get(f"{web}/api/v1/models").json()["max_upload_bytes"] == 8 * 1024 * 1024
        too_big = noise_png(1700, 1700)
        refused = httpx.post(f"{web}/api/v1/classify", content=too_big, headers={"Content-Type": "image/png"})
        assert refused.status_code == 413
        assert refused.json()["error"]["code"] == "payload_too_large"

        # Redis answers only with the stack's password, which is on no command line.
        port = native.env["REDIS_PORT"]
        assert b"NOAUTH" in redis_cli(port, "ping")
        password = (tmp_path / "var" / "redis" / "password").read_text().strip()
        assert redis_cli(port, "ping", password=password) == b"PONG\n"
        assert not [line for line in command_lines() if password in line]
        # Logs rotate: the gateway's and nginx's outputs, compressed, while they keep writing.
        wait_until(lambda: bool(list((tmp_path / "var").rglob("*.log.1.gz"))), 30, "a rotated log")
        # Logs hold client addresses and share hashes: no one but the owner and its group reads them.
        logs = {p: p.stat().st_mode & 0o777 for p in (tmp_path / "var").rglob("*.log*") if p.is_file()}
        assert {"access.log", "error.log", "redis.log", "gateway-1.log", "ts_log.log", "model_log.log"} <= {
            p.name for p in logs
        }
        assert {str(p): oct(mode) for p, mode in logs.items() if mode & ~0o640} == {}
    finally:
        pids = [int(p.read_text()) for p in (tmp_path / "var" / "run").glob("*.pid")]
        down = native.down()
    assert down.returncode == 0, down.stderr
    assert len(pids) == 6  # nginx, log rotation, Redis, and a replica's TorchServe, reconciler, gateway
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"process {pid} survived make down"
    for name in PORTS:
        assert not port_open(int(native.env[name])), f"{name} {native.env[name]} still open"


def review_tool(folder: Path, *argv: str) -> str:
    """``python -m ops.feedback ARGV`` run in ``folder`` with no setting in its environment; its output."""
    done = subprocess.run(
        [sys.executable, "-m", "ops.feedback", *argv],
        cwd=folder,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO)},  # the checkout's code, and nothing else
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_local_process_straight_to_a_gateway_chooses_no_bucket_and_nginx_still_names_the_client(
    model_store: Path, tmp_path: Path
):
    """nginx and every local process reach the gateways from loopback; nginx alone holds the edge's key
    (var/edge/key, readable by the stack's user alone, as nginx.conf that holds it), so another process's
    X-Forwarded-For and X-Request-ID are not believed, while nginx's are."""
    native = NativeStack(tmp_path / "var", model_store, RATE_LIMIT="2/minute")
    native.up()
    try:
        gateway = native.url("GATEWAY_PORT")
        forged = [
            httpx.get(
                f"{gateway}/api/v1/models",
                headers={"X-Forwarded-For": f"198.51.100.{i}", "X-Request-ID": "chosen-by-the-sender"},
            )
            for i in range(3)
        ]
        assert [answer.status_code for answer in forged] == [200, 200, 429]
        assert {answer.headers["X-Request-ID"] for answer in forged}.isdisjoint({"chosen-by-the-sender"})
        # Through nginx the gateway keeps nginx's ID: it logs the one the answer carries.
        request_id = httpx.get(f"{native.web}/api/v1/models").headers["X-Request-ID"]
        gateway_log = tmp_path / "var" / "log" / "gateway-1.log"
        wait_until(lambda: request_id in gateway_log.read_text(), 10, "nginx's ID in the gateway's log")
        for private in (tmp_path / "var" / "edge" / "key", tmp_path / "var" / "nginx" / "nginx.conf"):
            assert private.stat().st_mode & 0o077 == 0, private
    finally:
        native.down()


def redis_cli(port: str, *args: str, password: str | None = None) -> bytes:
    """redis-cli with the password in its environment (REDISCLI_AUTH), not on its command line."""
    env = {"PATH": "/usr/bin:/bin", **({"REDISCLI_AUTH": password} if password else {})}
    return subprocess.run(["redis-cli", "-p", port, *args], env=env, capture_output=True, check=True).stdout


def command_lines() -> list[str]:
    """Every process's command line, as `ps` shows them to every user."""
    lines = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):  # ended meanwhile
                lines.append((proc / "cmdline").read_bytes().decode(errors="replace"))
    return lines


def test_a_port_in_use_is_named(model_store: Path, tmp_path: Path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {"VAR_DIR": str(tmp_path / "var"), "MODEL_STORE": str(model_store), "WEB_PORT": str(port)}
        result = stack("up", env)
    assert result.returncode != 0
    assert f"port {port} (WEB_PORT) is already in use" in result.stderr
