"""The serving forms of a model behind one call: float32 batch (N, 3, H, W) -> logits (N, classes)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from inference.architectures import architecture
from inference.session_options import SPIN_WAIT

FORMS = ("onnx-int8", "onnx", "torchscript", "eager")


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


class TorchRunner:
    def __init__(self, model: nn.Module) -> None:
        self.model = model.eval()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.model(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))).float().numpy()


def load_torchscript(path: Path) -> TorchRunner:
    return TorchRunner(torch.jit.load(str(path), map_location="cpu"))


def load_eager(path: Path, arch: str, num_classes: int) -> nn.Module:
    """The eager model from its weights (a state dict, loaded with ``weights_only``), in eval mode: the
    form Grad-CAM needs, whatever form answers classifications."""
    model = architecture(arch).create(num_classes)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()
