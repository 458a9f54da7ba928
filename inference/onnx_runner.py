"""ONNX Runtime on the CPU, the form that answers classifications, with no torch import: a server that only
classifies (a plain FastAPI or LitServe app) pays ONNX Runtime's memory, not torch's."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from inference.session_options import SPIN_WAIT


class Runner(Protocol):
    def __call__(self, batch: np.ndarray) -> np.ndarray: ...


class OnnxRunner:
    """ONNX Runtime on the CPU: the fastest form measured here (see BENCHMARKS.md)."""

    def __init__(self, path: Path, threads: int, spin_wait: bool = SPIN_WAIT) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        if not spin_wait:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]
