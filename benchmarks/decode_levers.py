"""Decode levers measured in-process on the real screenshots: full decoding then the eval transform,
against JPEG draft mode alone, and draft mode plus Image.reduce for large PNGs (what the handler does).

    python -m benchmarks.decode_levers --out artifacts/bench/decode.json
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from pathlib import Path

from PIL import Image

from benchmarks.common import machine, write_json
from benchmarks.images import screenshot_groups
from handler.image_decode import decode_image
from inference.preprocessing import eval_transform
from training.backbones import get_spec


def median_ms(fn, images: list[bytes], repeats: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        for image in images:
            started = time.perf_counter()
            fn(image)
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="efficientnet_lite0")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/decode.json"))
    args = parser.parse_args()
    pre = get_spec(args.arch).preprocessing

    def full(image: bytes) -> None:
        eval_transform(Image.open(io.BytesIO(image)).convert("RGB"), pre)

    def draft_only(image: bytes) -> None:
        eval_transform(decode_image(image, pre.resize_size, reduce=False), pre)

    def ours(image: bytes) -> None:
        eval_transform(decode_image(image, pre.resize_size), pre)

    results = {}
    for group, images in screenshot_groups().items():
        jpegs = [i for i in images if i[:3] == b"\xff\xd8\xff"]
        pngs = [i for i in images if i[:4] == b"\x89PNG"]
        for kind, subset in (("JPEG", jpegs), ("PNG", pngs)):
            if not subset:
                continue
            row = {
                "n": len(subset),
                "full_ms": median_ms(full, subset, args.repeats),
                "draft_ms": median_ms(draft_only, subset, args.repeats),
                "handler_ms": median_ms(ours, subset, args.repeats),
            }
            results[f"{group} {kind}"] = row
    print(f"{'images':<24}{'n':>4}{'full decode':>14}{'draft only':>12}{'handler':>10}  median ms")
    for name, r in results.items():
        print(f"{name:<24}{r['n']:>4}{r['full_ms']:>14.1f}{r['draft_ms']:>12.1f}{r['handler_ms']:>10.1f}")
    write_json(args.out, {"machine": machine(), "arch": args.arch, "results": results})


if __name__ == "__main__":
    main()
