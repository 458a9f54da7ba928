"""A model archive (``.mar``) answering labelled images exactly as a replica serving it would: its shipped
form (inference.runtime.load_runner, the handler's own loader), its preprocessing, its temperature and
threshold. ``training refresh`` measures the default this way, so that a candidate is compared with what
visitors are actually answered, int8 or not, and records the archive's content digest beside the figures.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from inference.archive_digest import digest_of_archive
from inference.labels import LABELS
from inference.onnx_runner import Runner
from inference.preprocessing import Preprocessing, eval_transform
from inference.reviewed import DefaultModel
from inference.runtime import TorchRunner, load_runner
from inference.scoring import calibrated
from training.checkpoint import checkpoint_preprocessing, load_for_inference
from training.data import Row, open_rgb

MANIFEST = "MAR-INF/MANIFEST.json"


@dataclass
class ServedModel:
    """One model as it answers: what it is, its runner and how its logits become answers."""

    identity: DefaultModel
    runner: Runner
    preprocessing: Preprocessing
    temperature: float
    threshold: float
    labels: list[str]

    def probabilities(self, rows: list[Row], desc: str, batch: int = 16) -> np.ndarray:
        """Calibrated probabilities for ``rows``, in order, batched as the handler batches."""
        out = []
        for start in tqdm(range(0, len(rows), batch), desc=desc, unit="batch"):
            images = [
                eval_transform(open_rgb(r.path), self.preprocessing) for r in rows[start : start + batch]
            ]
            out.append(calibrated(self.runner(np.stack(images)), self.temperature))
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)))


def _read_json(archive: zipfile.ZipFile, name: str) -> dict[str, Any]:
    return dict(json.loads(archive.read(name)))


@contextmanager
def opened(path: Path, threads: int) -> Iterator[ServedModel]:
    """``path`` unpacked into a temporary folder for as long as the block runs."""
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(path) as archive:
        manifest = _read_json(archive, MANIFEST)["model"]
        meta = _read_json(archive, "model_meta.json")
        serialized = archive.extract(manifest["serializedFile"], tmp)
        if meta["labels"] != list(LABELS):
            raise ValueError(f"{path.name} answers {meta['labels']}, not {list(LABELS)}: not comparable")
        runner = load_runner(
            Path(serialized), meta["form"], meta["arch"], len(meta["labels"]), threads, spin_wait=False
        )
        yield ServedModel(
            DefaultModel(manifest["modelName"], manifest["modelVersion"], digest_of_archive(path)),
            runner,
            Preprocessing.from_dict(meta["preprocessing"]),
            float(meta["temperature"]),
            float(meta["unknown_threshold"]),
            list(meta["labels"]),
        )


def of_run(run_dir: Path) -> ServedModel:
    """A run's best checkpoint with the calibration ``evaluate`` fitted: what its archive would answer, up
    to the serving form's rounding. No digest: no archive says which one is served."""
    model, checkpoint = load_for_inference(run_dir / "checkpoints" / "best.pt")
    calibration = json.loads((run_dir / "calibration.json").read_text())
    return ServedModel(
        DefaultModel(None, None, None),
        TorchRunner(model),
        checkpoint_preprocessing(checkpoint),
        float(calibration["temperature"]),
        float(calibration["unknown_threshold"]),
        list(checkpoint["class_names"]),
    )
