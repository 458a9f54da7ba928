"""The model archives benchmarks build from the served one: a copy that says it is another version (what
an operator registers as a new version or a canary), and the same weights behind TorchServe's stock
handler (the baseline our handler is measured against)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from inference.labels import index_to_name

MODEL = "fromsoft"


def new_archive(store: Path, source: Path, version: str) -> str:
    """A copy of ``source`` (a .mar) that says it is ``version``: the new version an operator registers."""
    name = f"{MODEL}-{version}.mar"
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(store / name, "w", zipfile.ZIP_STORED) as new:
        for item in old.infolist():
            data = old.read(item)
            if item.filename == "MAR-INF/MANIFEST.json":
                manifest = json.loads(data)
                manifest["model"]["modelVersion"] = version
                data = json.dumps(manifest, indent=2).encode()
            new.writestr(item, data)
    return name


def stock_archive(run_dir: Path, store: Path) -> None:
    """The same weights (TorchScript form) behind TorchServe's stock image_classifier handler."""
    with tempfile.TemporaryDirectory() as tmp:
        names = Path(tmp) / "index_to_name.json"
        names.write_text(json.dumps(index_to_name()))
        subprocess.run(
            [
                sys.executable,
                "-m",
                "model_archiver.model_packaging",
                "--model-name",
                "stock",
                "--version",
                "1.0",
                "--serialized-file",
                str(run_dir / "serving" / "model.torchscript.pt"),
                "--handler",
                "image_classifier",
                "--extra-files",
                str(names),
                "--export-path",
                str(store),
                "--force",
            ],
            check=True,
        )
