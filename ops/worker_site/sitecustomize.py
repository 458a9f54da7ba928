"""Imported by Python at start-up in the processes TorchServe starts (ops.torchserve puts this folder first
on their PYTHONPATH). In a model worker, and only there, ``import torch`` is deferred until torch is used.

TorchServe 0.12's worker protocol (ts.protocol.otf_message_handler) imports torch at the top for one
``isinstance`` check on answers that are tensors, and that import alone holds about 470 MB of a 570 MB
worker: the CUDA build's libraries and what they allocate at start-up (BENCHMARKS.md, What one more
replica costs). The handler answers in JSON text and runs the ONNX forms without torch, so a worker
serving one never loads it; one serving a TorchScript or eager form loads it with its model, and any
worker on its first explanation (Grad-CAM). TorchServe is archived upstream, so this is fixed here
rather than there.

The stand-in is a module whose every missing attribute imports the real torch, puts it in
``sys.modules`` in the stand-in's place and answers from it: ``import torch`` and ``torch.x``,
``from torch import nn`` and ``import torch.nn`` all work as before, the first use paying the import.
Being first on the path, this module shadows any other ``sitecustomize`` in those processes (Ubuntu's
system Python has one, which installs apport's crash hook).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

WORKER_SCRIPT = "model_service_worker.py"  # what TorchServe's front end runs as each model worker


class DeferredModule(types.ModuleType):
    """Stands in ``sys.modules`` for a module not imported yet; its first missing attribute imports it."""

    def __getattr__(self, attribute: str) -> Any:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]  # so that the import below finds and runs the real one
        return getattr(importlib.import_module(self.__name__), attribute)


def defer(name: str) -> None:
    """``name`` imported on its first use rather than by ``import`` (nothing if it is imported already)."""
    sys.modules.setdefault(name, DeferredModule(name))


if sys.argv and sys.argv[0].endswith(WORKER_SCRIPT):
    defer("torch")
