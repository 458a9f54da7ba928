"""The serving forms of a model behind one call: float32 batch (N, 3, H, W) -> logits (N, classes). The
ONNX form lives in inference.onnx_runner, without torch. Importing this module reads nothing of torch:
in a TorchServe worker, where torch is a stand-in until it is used (ops/worker_site/sitecustomize.py),
an ONNX form never loads it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from inference.onnx_runner import OnnxRunner, Runner

if TYPE_CHECKING:
    from torch import nn

FORMS = ("onnx-int8", "onnx", "torchscript", "eager")


class TorchRunner:
    def __init__(self, model: nn.Module) -> None:
        self.model = model.eval()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.model(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))).float().numpy()


def load_torchscript(path: Path, threads: int | None = None) -> TorchRunner:
    """``threads``: as ``load_eager``'s."""
    use_threads(threads)
    return TorchRunner(torch.jit.load(str(path), map_location="cpu"))


def load_runner(
    serialized: Path, form: str, arch: str, num_classes: int, threads: int, spin_wait: bool
) -> Runner:
    """An archive's serving form (``model_meta.json``'s ``form``) from its serialized file, as the handler
    answers with it; ``training refresh`` measures the served default the same way."""
    if form in ("onnx", "onnx-int8"):
        return OnnxRunner(serialized, threads, spin_wait)
    if form == "torchscript":
        return load_torchscript(serialized, threads)
    return TorchRunner(load_eager(serialized, arch, num_classes, threads))


def load_eager(path: Path, arch: str, num_classes: int, threads: int | None = None) -> nn.Module:
    """The eager model from its weights (a state dict, loaded with ``weights_only``), in eval mode: the
    form Grad-CAM needs, whatever form answers classifications. ``threads``: torch's intra-op threads
    from now on (a serving worker's; workers x threads should match the cores)."""
    from inference.architectures import architecture  # its models are torch's: imported with them

    use_threads(threads)
    model = architecture(arch).create(num_classes)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


def use_threads(threads: int | None) -> None:
    """torch's intra-op threads from now on, when given: set as a torch form loads, so that a worker
    serving an ONNX form never touches torch."""
    if threads is not None:
        torch.set_num_threads(threads)
