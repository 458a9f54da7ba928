"""What the peer servers (litserve_app.py and fastapi_app.py beside this file) do with an image: the same
decode, preprocessing, ONNX Runtime session (the archive's own ONNX form, float or int8) and
calibrated top-3 answer as our handler, from the shared core, so that a comparison with our stack
measures the serving machinery and nothing else."""

from __future__ import annotations

import argparse
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from handler.image_decode import decode_image
from inference.onnx_runner import OnnxRunner
from inference.preprocessing import Preprocessing, eval_transform
from inference.scoring import answer, calibrated


class Model:
    """The archive's ONNX form with its preprocessing and calibration, loaded in this process."""

    def __init__(self, archive: Path, work: Path, threads: int) -> None:
        with zipfile.ZipFile(archive) as mar:
            mar.extractall(work)
        meta = json.loads((work / "model_meta.json").read_text())
        serialized = json.loads((work / "MAR-INF" / "MANIFEST.json").read_text())["model"]["serializedFile"]
        self.pre = Preprocessing.from_dict(meta["preprocessing"])
        self.labels, self.names = meta["labels"], meta["display_names"]
        self.temperature, self.threshold = float(meta["temperature"]), float(meta["unknown_threshold"])
        self.runner = OnnxRunner(work / serialized, threads)  # the ONNX form the archive ships

    def prepare(self, data: bytes) -> np.ndarray:
        return eval_transform(decode_image(data, self.pre.resize_size), self.pre)

    def predict(self, batch: np.ndarray) -> list[dict[str, Any]]:
        probs = calibrated(self.runner(batch), self.temperature)
        return [self.top3(answer(p, self.labels, self.names, self.threshold)) for p in probs]

    @staticmethod
    def top3(full: dict[str, Any]) -> dict[str, Any]:
        return {**{k: full[k] for k in ("label", "name", "confidence")}, "top_k": full["probabilities"][:3]}


def peer_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--archive", type=Path, required=True, help="a model archive with the ONNX form")
    parser.add_argument("--work", type=Path, required=True, help="folder to unpack it in")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads (default 2)")
    return parser
