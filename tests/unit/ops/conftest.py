"""Small model archives for the operator tools' unit tests: a zip with TorchServe's manifest and a few
files, which is all the tools read of an archive."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

MakeArchive = Callable[..., Path]


def write_archive(path: Path, name: str, version: str, weights: bytes = b"weights") -> Path:
    manifest = {"model": {"modelName": name, "modelVersion": version, "serializedFile": "model.onnx"}}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("MAR-INF/MANIFEST.json", json.dumps(manifest))
        archive.writestr("model.onnx", weights)
        archive.writestr("model_meta.json", '{"arch": "tiny"}')
        archive.writestr("handler/__init__.py", "")
    return path


@pytest.fixture
def store(tmp_path: Path) -> Path:
    folder = tmp_path / "model_store"
    folder.mkdir()
    return folder


@pytest.fixture
def make_archive(store: Path) -> MakeArchive:
    def make(file: str, name: str, version: str, weights: bytes = b"weights") -> Path:
        return write_archive(store / file, name, version, weights)

    return make
