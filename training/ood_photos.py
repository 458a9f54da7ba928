"""Photographs that are not screenshots of any game, for ``evaluate --ood-dir``: scikit-image's sample
photos (an astronaut, a cat, coffee, a rocket, the moon, a retina...), which ship inside the package, so the
demo can measure how many a model calls "Not recognised" without downloading anything."""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

SAMPLES = ("astronaut", "chelsea", "coffee", "rocket", "camera", "moon", "hubble_deep_field", "retina")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, help="folder to write the photos to (JPEG)")


def main(args: argparse.Namespace) -> int:
    try:
        from skimage import data
    except ImportError:
        print("photos: scikit-image is not installed (it is a test dependency: `make setup`)")
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for name in SAMPLES:
        Image.fromarray(getattr(data, name)()).convert("RGB").save(args.out / f"{name}.jpg", quality=92)
    print(f"photos: {len(SAMPLES)} sample photos in {args.out}")
    return 0
