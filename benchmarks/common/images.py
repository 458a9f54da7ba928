"""The benchmark image sets: synthetic 640x360 frames and the real screenshots grouped by size."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from launchers import REPO

SCREENSHOTS = REPO.parent / "shared" / "screenshots"


def run_frames(run_dir: Path, count: int) -> list[bytes]:
    """Up to ``count`` synthetic frames from the data ``run_dir`` was prepared from: ``RUN/data`` (make
    train-demo), else the folder prepare recorded. Every benchmark sends them, so a clone without them
    stops here with what is missing, instead of dividing by an empty image set later."""
    data_root = run_dir / "data"
    report = run_dir / "prepare_report.json"
    if not data_root.is_dir() and report.is_file():
        data_root = Path(json.loads(report.read_text())["data_root"])
    frames = synthetic_frames(data_root, count)
    if not frames:
        raise SystemExit(
            f"no frames to send: {data_root / 'FromSoftwareImages'} holds no .jpg frames (the data "
            f"{run_dir} was prepared from; `make train-demo` synthesizes them into {run_dir / 'data'})"
        )
    return frames


def synthetic_frames(data_root: Path, count: int) -> list[bytes]:
    files = sorted((data_root / "FromSoftwareImages").rglob("*.jpg"))
    step = max(1, len(files) // count)
    return [p.read_bytes() for p in files[::step][:count]]


def screenshot_groups() -> dict[str, list[bytes]]:
    """Real screenshots by height: up to 720p, 1080p-class and 4K-class (empty when ../shared is absent)."""
    groups: dict[str, list[bytes]] = {"real <=720p": [], "real 1080p": [], "real 4K": []}
    if not SCREENSHOTS.is_dir():
        print(f"note: no real screenshots at {SCREENSHOTS}; those groups are skipped")
        return groups
    for path in sorted(SCREENSHOTS.rglob("*")):
        if path.suffix.lower() not in (".jpg", ".jpeg", ".png"):
            continue
        with Image.open(path) as img:
            height = img.height
        name = "real 4K" if height >= 1800 else "real 1080p" if height >= 1000 else "real <=720p"
        groups[name].append(path.read_bytes())
    return groups


def distinct(image: bytes, n: int) -> bytes:
    """The same picture with different bytes (a cache miss): decoders ignore data after the image's end."""
    return image + b"\x00" + n.to_bytes(8, "big")


def distinct_uploads(frames: list[bytes], count: int, first: int) -> list[bytes]:
    """``count`` uploads cycling through ``frames``, each distinct (numbered from ``first``)."""
    return [distinct(frames[i % len(frames)], first + i) for i in range(count)]
