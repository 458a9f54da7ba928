"""A TorchServe worker serving an ONNX form never imports torch (ops/worker_site/sitecustomize.py): it
classifies in about 100 MB where it held 570 with torch imported; its first explanation (Grad-CAM, eager
torch) imports it and still answers."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from launchers.torchserve import TorchServe, start_torchserve
from ops.torchserve_api import ManagementClient

TORCH_LIBRARY = "libtorch_cpu.so"  # mapped into any process that imported torch


@pytest.fixture(scope="module")
def frame(synthetic_data) -> bytes:
    return sorted((synthetic_data / "FromSoftwareImages" / "sekiro").glob("*.jpg"))[0].read_bytes()


@pytest.fixture(scope="module")
def unit(model_store: Path, tmp_path_factory: pytest.TempPathFactory):
    """A TorchServe of its own: whether torch is loaded depends on every request its worker served."""
    with zipfile.ZipFile(model_store / "fromsoft.mar") as archive:
        form = json.loads(archive.read("model_meta.json"))["form"]
    assert form.startswith("onnx"), f"the test archive's form is {form}, not an ONNX one"
    server = start_torchserve(model_store, tmp_path_factory.mktemp("torchserve-no-torch"))
    yield server
    server.stop()


def worker(server: TorchServe) -> int:
    workers = ManagementClient(server.management_url, server.key_file).default("fromsoft")[0]["workers"]
    assert len(workers) == 1
    return int(workers[0]["pid"])


def torch_loaded(pid: int) -> bool:
    return TORCH_LIBRARY in Path(f"/proc/{pid}/maps").read_text()


def resident_mb(pid: int) -> float:
    line = next(s for s in Path(f"/proc/{pid}/status").read_text().splitlines() if s.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def test_classifications_leave_the_worker_without_torch(unit, frame):
    for _ in range(4):
        answered = unit.predict(frame)
        assert answered.status_code == 200, answered.text
    assert answered.json()["label"] == "sekiro"
    pid = worker(unit)
    assert not torch_loaded(pid)
    assert resident_mb(pid) < 250


def test_the_first_explanation_imports_torch_and_answers(unit, frame):
    explained = unit.predict(frame, endpoint="explanations")
    assert explained.status_code == 200, explained.text
    body = explained.json()
    assert (body["rows"], body["cols"]) == (9, 16)
    assert torch_loaded(worker(unit))
    assert unit.predict(frame).status_code == 200  # classifications go on beside the loaded torch
