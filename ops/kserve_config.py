"""The configuration KServe's TorchServe runtime starts from, rendered from the declared state.

KServe mounts its storage at /mnt/models and starts TorchServe with ``config/config.properties`` from
it; the models it loads are named by that file's ``model_snapshot``, which this renders from the
declared state: each model at its declared default version, its workers and batching (the archive's
own where the declaration says nothing). Only the default goes in: TorchServe 0.12 ignores
``defaultVersion`` in a snapshot of several versions (pytorch/serve#2744). Everything else is the
shipped config.properties, tokens on and registration pinned, with KServe's listeners.

    python -m ops.kserve_config OUT    # writes OUT/config/config.properties; copy the archives to
                                       # OUT/model-store and OUT to the InferenceService's storage

KServe is removing its TorchServe runtime (kserve/kserve#5638): deploy/k8s is the supported path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from commandline import CommandParser
from ops.archives import inspect
from ops.declared import DeclaredState, load
from ops.settings import OpsSettings
from ops.torchserve import REPO
from ops.torchserve_config import render

KSERVE_LISTENERS = {
    "inference_address": "http://0.0.0.0:8085",  # KServe's predictor port
    "management_address": "http://0.0.0.0:8085",
    "metrics_address": "http://0.0.0.0:8082",
    "model_store": "/mnt/models/model-store",
    "enable_envvars_config": "true",  # KServe picks its protocol envelope through the environment
}


def model_snapshot(state: DeclaredState, store: Path) -> dict[str, Any]:
    """TorchServe's ``model_snapshot`` of every model's declared default version."""
    models = {}
    for name, model in state.models.items():
        spec = model.versions[model.default]
        info = inspect(store / spec.archive)
        models[name] = {
            model.default: {
                "defaultVersion": True,
                "marName": spec.archive,
                "minWorkers": spec.workers,
                "maxWorkers": spec.workers,
                "batchSize": spec.batch_size or info.batch_size,
                "maxBatchDelay": spec.max_batch_delay
                if spec.max_batch_delay is not None
                else info.max_batch_delay,
                "responseTimeout": info.response_timeout,
            }
        }
    return {"name": "startup.cfg", "modelCount": len(models), "models": models}


def kserve_properties(state: DeclaredState, store: Path) -> str:
    snapshot = json.dumps(model_snapshot(state, store), separators=(",", ":"))
    return render((REPO / "config.properties").read_text(), {**KSERVE_LISTENERS, "model_snapshot": snapshot})


def main(argv: list[str] | None = None) -> None:
    parser = CommandParser(
        prog="python -m ops.kserve_config",
        description=__doc__.split("\n\n")[0],
        example="MODEL_STORE=model_store python -m ops.kserve_config kserve-storage",
    )
    parser.add_argument("out", type=Path, help="folder that becomes the InferenceService's storage")
    args = parser.parse_args(argv)
    settings = OpsSettings()
    state, revision = load(settings.declared_file, settings.model_store)
    target = args.out / "config" / "config.properties"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(kserve_properties(state, settings.model_store))
    store = args.out / "model-store"
    print(f"kserve_config: {target} (declared revision {revision}); copy the archives to {store}")


if __name__ == "__main__":
    main()
