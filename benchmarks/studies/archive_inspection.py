"""What the reconciler pays each cycle to know a declared archive's content (ops.archives.inspect): the
SHA-256 of the whole file, since what was read of an archive is kept by its bytes. Times the first look
(hash, manifest, content digest), a look at an unchanged archive (the hash alone: what each declared
archive costs per reconcile cycle), and a stat (what keying by size and modification time cost).

    .venv/bin/python -m benchmarks.studies.archive_inspection [--archive model_store/fromsoft.mar]

Without ``--archive`` (or with none there) it measures a stand-in of the demo archive's make-up: an
EfficientNet-Lite0 with seven classes as ONNX plus its eager weights, deflated as the archiver does
(about 25 MB). Writes artifacts/bench/archive_inspection.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from benchmarks.common.report import machine, write_json
from launchers import REPO
from ops import archives


def stand_in(folder: Path) -> Path:
    """An archive the size of the demo's: efficientnet_lite0's ONNX and weights, untrained."""
    import torch

    from inference.architectures import architecture
    from inference.labels import LABELS

    arch = architecture("efficientnet_lite0")
    model = arch.create(len(LABELS)).eval()
    torch.save(model.state_dict(), folder / "weights.pt")
    sample = torch.zeros(1, 3, *arch.preprocessing.crop_size)
    torch.onnx.export(model, (sample,), str(folder / "model.onnx"), opset_version=17, dynamo=False)
    manifest = {"model": {"modelName": "fromsoft", "modelVersion": "1.0", "serializedFile": "model.onnx"}}
    path = folder / "fromsoft.mar"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("MAR-INF/MANIFEST.json", json.dumps(manifest))
        archive.write(folder / "model.onnx", "model.onnx")
        archive.write(folder / "weights.pt", "weights.pt")
    return path


def timed_ms(action: Any, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return times


def measure(path: Path, repeats: int) -> dict[str, Any]:
    def first_look() -> None:
        archives._seen.clear()
        archives.inspect(path)

    first = timed_ms(first_look, max(1, repeats // 4))
    archives.inspect(path)
    unchanged = timed_ms(lambda: archives.inspect(path), repeats)
    stat = timed_ms(path.stat, repeats)
    return {
        "archive_bytes": path.stat().st_size,
        "first_look_ms": {"min": min(first), "median": statistics.median(first)},
        "unchanged_ms": {"min": min(unchanged), "median": statistics.median(unchanged)},
        "stat_ms": {"min": min(stat), "median": statistics.median(stat)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--archive", type=Path, default=REPO / "model_store" / "fromsoft.mar")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.archive if args.archive.is_file() else stand_in(Path(tmp))
        figures = measure(path, args.repeats)
        figures["archive"] = str(args.archive) if args.archive.is_file() else "stand-in (efficientnet_lite0)"
    figures["machine"] = machine()
    write_json(REPO / "artifacts" / "bench" / "archive_inspection.json", figures)
    mb = figures["archive_bytes"] / 1e6
    print(f"{figures['archive']}: {mb:.1f} MB")
    for name in ("first_look_ms", "unchanged_ms", "stat_ms"):
        print(f"  {name}: min {figures[name]['min']:.2f} ms, median {figures[name]['median']:.2f} ms")


if __name__ == "__main__":
    main()
