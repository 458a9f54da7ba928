"""ops/worker_site/sitecustomize.py: torch deferred in TorchServe's model workers, and only there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ops.torchserve import WORKER_SITE

# Run as TorchServe runs a worker (a script named model_service_worker.py): what its protocol module
# imports, then torch's uses as the handler and Grad-CAM make them.
PROBE = """
import sys
import ts.protocol.otf_message_handler as protocol
print(type(sys.modules["torch"]).__name__, "torch._C" in sys.modules)
import torch
print("torch._C" in sys.modules)
from torch import nn
import torch.nn.functional as F
print(type(sys.modules["torch"]).__name__, protocol.torch.Tensor is torch.Tensor, nn.Linear.__module__)
print(F.relu(torch.tensor([-1.0, 2.0])).tolist())
"""


def run_as(script: Path) -> list[str]:
    script.write_text(PROBE)
    done = subprocess.run(
        [sys.executable, str(script)],
        env={"PYTHONPATH": str(WORKER_SITE), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.splitlines()


def test_a_worker_imports_torch_on_its_first_use_and_then_uses_the_real_one(tmp_path):
    assert run_as(tmp_path / "model_service_worker.py") == [
        "DeferredModule False",  # TorchServe's protocol imported torch: nothing of it loaded
        "False",  # nor by a plain `import torch`
        "module True torch.nn.modules.linear",  # the first use loaded it: every name means the real torch
        "[0.0, 2.0]",
    ]


def test_other_processes_import_torch_as_usual(tmp_path):
    assert run_as(tmp_path / "launcher.py")[0] == "module True"
