"""A TorchServe worker serving an ONNX form never imports torch (ops/worker_site/sitecustomize.py): it
classifies in about 100 MB where it held 570 with torch imported; its first explanation (Grad-CAM, eager
torch) imports it and still answers."""

from __future__ import annotations

import json
import zipfile
from concurrent.futures import ThreadPoolExecutor
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


def test_the_first_explanation_imports_torch_amid_concurrent_classifications(unit, frame):
    """Sent at once, so that TorchServe batches the explanation with classifications: the batch that
    imports torch answers every request of it."""
    endpoints = ["predictions"] * 3 + ["explanations"] + ["predictions"] * 4
    with ThreadPoolExecutor(len(endpoints)) as pool:
        answers = list(pool.map(lambda endpoint: unit.predict(frame, endpoint=endpoint), endpoints))
    assert [a.status_code for a in answers] == [200] * len(endpoints), [a.text for a in answers]
    explained = answers[endpoints.index("explanations")].json()
    assert (explained["rows"], explained["cols"]) == (9, 16)
    classified = [a.json()["label"] for a, e in zip(answers, endpoints, strict=True) if e == "predictions"]
    assert classified == ["sekiro"] * 7
    assert torch_loaded(worker(unit))
