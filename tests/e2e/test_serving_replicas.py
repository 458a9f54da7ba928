"""`SERVING_REPLICAS=2 make up`: two serving units behind nginx converge to one declared state. Under 8
concurrent visitors sending images never sent before, `ops.models` switches the default: no request
fails, and none sent after the command returned is answered by the old version. After `make down` and
`make up` again, every answer comes from the declared default."""

from __future__ import annotations

import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import count
from pathlib import Path

import httpx

from benchmarks.common.images import distinct
from launchers.procs import port_open
from launchers.stack import PORTS, UNLIMITED, NativeStack

VISITORS = 8


def test_a_default_switch_under_load_reaches_both_replicas_and_survives_a_restart(
    model_store: Path, synthetic_data: Path, tmp_path: Path
):
    store = tmp_path / "model_store"
    store.mkdir()
    for archive in ("fromsoft.mar", "fromsoft-2.0.mar"):
        shutil.copy(model_store / archive, store / archive)
    native = NativeStack(tmp_path / "var", store, SERVING_REPLICAS="2", **UNLIMITED)
    frame = sorted((synthetic_data / "FromSoftwareImages" / "dark souls 3").glob("*.jpg"))[0].read_bytes()
    nonces = count()
    answers: list[tuple[float, int, str | None]] = []  # (sent at, status, version)
    stop = threading.Event()

    def visit() -> None:
        with httpx.Client(base_url=native.web, timeout=60) as client:
            while not stop.is_set():
                sent = time.time()
                image = distinct(frame, next(nonces))
                response = client.post("/api/v1/classify", files={"file": ("f.jpg", image, "image/jpeg")})
                version = (
                    response.json().get("model", {}).get("version") if response.status_code == 200 else None
                )
                answers.append((sent, response.status_code, version))

    native.up()
    try:
        assert len(native.models("show", "--json").stdout) > 0
        with ThreadPoolExecutor(VISITORS) as visitors:
            running = [visitors.submit(visit) for _ in range(VISITORS)]
            time.sleep(4)
            native.models("add", "fromsoft-2.0.mar", "--default", "--timeout", "120")
            returned = time.time()
            time.sleep(6)
            stop.set()
            for visitor in running:
                visitor.result()
        native.down()
        native.up()
        after_restart = [
            httpx.post(
                f"{native.web}/api/v1/classify",
                files={"file": ("f.jpg", distinct(frame, 10**9 + n), "image/jpeg")},
                timeout=60,
            )
            for n in range(8)
        ]
    finally:
        pids = [int(p.read_text()) for p in (native.var_dir / "run").glob("*.pid")]
        native.down()

    assert [status for _, status, _ in answers if status != 200] == []
    before = {version for sent, _, version in answers if sent < returned}
    after = [version for sent, _, version in answers if sent > returned]
    assert "1.0" in before
    assert after
    assert set(after) == {"2.0"}, f"{after.count('1.0')} of {len(after)} answered by 1.0 after the switch"
    assert {r.json()["model"]["version"] for r in after_restart} == {"2.0"}
    assert len(pids) == 3 + 3 * 2  # nginx, log rotation, Redis, and TorchServe, reconciler, gateway each
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"process {pid} survived make down"
    for name in PORTS:
        assert not port_open(int(native.env[name])), f"{name} {native.env[name]} still open"
