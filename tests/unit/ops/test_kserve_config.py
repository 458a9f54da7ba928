"""KServe's TorchServe configuration: the shipped settings with KServe's listeners, and a model_snapshot of
each model's declared default only (TorchServe ignores defaultVersion among several versions)."""

from __future__ import annotations

import json
from pathlib import Path

from ops.declared import parse
from ops.kserve_config import kserve_properties
from tests.unit.ops.conftest import MakeArchive


def test_the_snapshot_holds_each_declared_default_with_its_workers_and_batching(
    store: Path, make_archive: MakeArchive
):
    make_archive("fromsoft.mar", "fromsoft", "1.0")
    make_archive("fromsoft-2.0.mar", "fromsoft", "2.0")
    state = parse(
        'models: {fromsoft: {default: "2.0", versions: {"1.0": {archive: fromsoft.mar},'
        ' "2.0": {archive: fromsoft-2.0.mar, workers: 2, batch_size: 8}}}}'
    )
    properties = dict(
        line.split("=", 1)
        for line in kserve_properties(state, store).splitlines()
        if "=" in line and line[0] != "#"
    )
    assert properties["inference_address"] == "http://0.0.0.0:8085"
    assert properties["model_store"] == "/mnt/models/model-store"
    assert properties["disable_token_authorization"] == "false"
    assert properties["allowed_urls"] == "(?!)"
    assert json.loads(properties["model_snapshot"]) == {
        "name": "startup.cfg",
        "modelCount": 1,
        "models": {
            "fromsoft": {
                "2.0": {
                    "defaultVersion": True,
                    "marName": "fromsoft-2.0.mar",
                    "minWorkers": 2,
                    "maxWorkers": 2,
                    "batchSize": 8,
                    "maxBatchDelay": 100,  # the archive has no model config: TorchServe's default
                    "responseTimeout": 120,
                }
            }
        },
    }
