"""An in-process handler over a freshly exported tiny model, with a small mock of TorchServe's context
(the Java server is kept for the integration tests)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from handler.fromsoft_handler import FromSoftHandler
from inference.labels import DISPLAY_NAMES, LABELS, UNKNOWN_LABEL
from training.backbones import build_model, get_spec
from training.export import build_forms


class MockMetrics:
    def add_time(self, *args: Any, **kwargs: Any) -> None:
        pass


class MockContext:
    """TorchServe's context for one batch: ``headers[i]`` are request i's own headers, as TorchServe gives
    each request of a batch its own (an explanation is marked ``explain: True``)."""

    def __init__(self, model_dir: Path, serialized: str, headers: list[dict[str, str]] | None = None) -> None:
        self.system_properties = {"model_dir": str(model_dir), "gpu_id": None, "batch_size": 4}
        self.manifest = {
            "model": {"modelName": "fromsoft", "modelVersion": "1.0", "serializedFile": serialized}
        }
        self.model_yaml_config = {"handler": {"threads": 1}}
        self.metrics = MockMetrics()
        self.statuses: dict[int, tuple[int, str]] = {}
        self.content_types: dict[int, str] = {}
        self.headers = headers or []

    def set_response_status(self, code: int, phrase: str, idx: int = 0) -> None:
        self.statuses[idx] = (code, phrase)

    def set_response_content_type(self, idx: int, value: str) -> None:
        self.content_types[idx] = value

    def get_request_header(self, idx: int, key: str) -> str | None:
        return self.get_all_request_header(idx).get(key)

    def get_all_request_header(self, idx: int) -> dict[str, str]:
        return self.headers[idx] if idx < len(self.headers) else {}


def make_model_dir(tmp: Path, form: str) -> tuple[Path, str]:
    torch.manual_seed(0)
    model = build_model("tiny", weights="none").eval()
    pre = get_spec("tiny").preprocessing
    calibration = np.random.default_rng(0).normal(0, 1, (8, 3, *pre.crop_size)).astype(np.float32)
    forms = build_forms(model, torch.randn(2, 3, *pre.crop_size), tmp, threads=1, calibration=calibration)
    meta = {
        "arch": "tiny",
        "form": form,
        "labels": list(LABELS),
        "display_names": DISPLAY_NAMES,
        "preprocessing": pre.to_dict(),
        "temperature": 1.0,
        "unknown_threshold": 0.0,
    }
    (tmp / "model_meta.json").write_text(json.dumps(meta))
    return tmp, forms[form][0].name


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return make_model_dir(tmp_path_factory.mktemp("model"), "onnx")


@pytest.fixture
def handler(model_dir: tuple[Path, str]) -> FromSoftHandler:
    instance = FromSoftHandler()
    instance.initialize(MockContext(*model_dir))
    return instance


def run(
    handler: FromSoftHandler, bodies: list[Any], explain: bool | list[bool] = False
) -> tuple[list[Any], MockContext]:
    """Send one batch through ``handle``; ``explain``: for the whole batch, or request by request.
    Returns the decoded JSON bodies and the context."""
    marks = explain if isinstance(explain, list) else [explain] * len(bodies)
    headers = [{"explain": "True"} if mark else {} for mark in marks]
    context = MockContext(Path(handler.model_dir), "model.onnx", headers)
    out = handler.handle([{"body": b} for b in bodies], context)
    return [json.loads(o) for o in out], context


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def frame(mode: str = "RGB", size: tuple[int, int] = (640, 360)) -> Image.Image:
    rng = np.random.default_rng(1)
    rgb = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    return rgb if mode == "RGB" else rgb.convert(mode)


def assert_answer(result: dict) -> None:
    assert result["label"] in (*LABELS, UNKNOWN_LABEL)
    probs = [p["probability"] for p in result["probabilities"]]
    assert len(probs) == len(LABELS)
    assert probs == sorted(probs, reverse=True)
    assert sum(probs) == pytest.approx(1.0, abs=1e-4)
    assert result["confidence"] == pytest.approx(probs[0])
    model = dict(result["model"])
    assert re.fullmatch(r"[0-9a-f]{12}", model.pop("digest"))  # inference.archive_digest of the folder
    assert model == {"name": "fromsoft", "version": "1.0"}  # the architecture is in the description
    assert set(result["timings_ms"]) == {"decode", "preprocess", "inference", "postprocess"}
    assert len(result["preprocessing_version"]) == 12


def assert_error(results: list, context: MockContext, index: int, status: int, code: str) -> None:
    assert context.statuses[index][0] == status
    assert results[index]["error"]["code"] == code
    assert results[index]["error"]["message"]
