"""A stack left running past its keys' lifetime: with TorchServe's keys living one minute, the reconciler
renews them and every classification, readiness probe and declared-state change keeps working."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from launchers.stack import NativeStack


def test_classifications_probes_and_declared_changes_outlive_the_keys(
    model_store: Path, synthetic_data: Path, tmp_path: Path
):
    native = NativeStack(tmp_path / "var", model_store, TS_TOKEN_EXPIRATION_MIN="1", RATE_LIMIT="100/minute")
    frames = sorted((synthetic_data / "FromSoftwareImages").rglob("*.jpg"))[:18]
    native.up()
    try:
        first_keys = json.loads(native.key_file().read_text())
        statuses, ready = [], []
        manage_after_expiry = None
        started = time.monotonic()
        for index, frame in enumerate(frames):  # one every 10 s for 3 minutes; distinct: never cached
            response = httpx.post(
                f"{native.web}/api/v1/classify",
                files={"file": ("f.jpg", frame.read_bytes(), "image/jpeg")},
                timeout=60,
            )
            statuses.append(response.status_code)
            ready.append(httpx.get(f"{native.url('GATEWAY_PORT')}/readyz", timeout=10).status_code)
            if manage_after_expiry is None and time.monotonic() - started > 75:  # past the first expiry
                # the reconciler applies it through the management API, with a key renewed by then
                manage_after_expiry = native.models("scale", "fromsoft", "--workers", "2", "--timeout", "60")
            time.sleep(max(0.0, started + 10 * (index + 1) - time.monotonic()))
        keys = json.loads(native.key_file().read_text())
        old_inference = httpx.get(
            f"{native.url('TS_INFERENCE_PORT')}/ping",
            headers={"Authorization": f"Bearer {first_keys['inference']['key']}"},
        )
    finally:
        native.down()
    assert statuses == [200] * len(frames), statuses
    assert ready == [200] * len(frames), ready
    assert manage_after_expiry is not None
    assert "every running replica serves revision" in manage_after_expiry.stdout
    # The keys really were replaced, and TorchServe refuses the first ones now.
    for kind in ("inference", "management"):
        assert keys[kind]["key"] != first_keys[kind]["key"], kind
    assert old_inference.status_code == 400
    assert "renewed TorchServe's inference key" in (native.var_dir / "log" / "reconciler-1.log").read_text()
