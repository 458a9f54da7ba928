"""Our handler against TorchServe's stock ``image_classifier`` handler, serving the same model on the
same images side by side in one TorchServe: latency at concurrency 1, throughput at concurrency 4,
and our per-stage timings.

    python -m benchmarks.studies.handler_vs_stock --run runs/demo --out artifacts/bench/handler_vs_stock.json
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common.archives import stock_archive
from benchmarks.common.images import run_frames, screenshot_groups
from benchmarks.common.report import machine, summary, write_json
from launchers.torchserve import start_torchserve


def measure(
    client: httpx.Client, url: str, images: list[bytes], concurrency: int
) -> tuple[list[float], float, list]:
    """Latencies (ms), throughput (images/s) and response bodies for one pass over ``images``."""

    def one(image: bytes) -> tuple[float, dict]:
        started = time.perf_counter()
        response = client.post(url, content=image, headers={"Content-Type": "image/jpeg"})
        response.raise_for_status()
        return (time.perf_counter() - started) * 1000, response.json()

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, images))
    elapsed = time.perf_counter() - started
    return [ms for ms, _ in results], len(images) / elapsed, [body for _, body in results]


def compare(client: httpx.Client, urls: dict[str, str], every: list[bytes], rounds: int) -> dict[str, Any]:
    """Both handlers on one group of images: latency alone, throughput at 4 in flight, our stages."""
    # The stock handler fails on some real files (RGBA and palette PNGs break its transform): compare on
    # the images both handlers answer, and report how many it could not.
    images = [i for i in every if client.post(urls["stock"], content=i).status_code == 200]
    rows: dict[str, dict[str, list]] = {k: {"latency": [], "throughput": [], "stages": []} for k in urls}
    for _ in range(rounds):
        for name, url in urls.items():  # alternate, so drift hits both alike
            latency, _, bodies = measure(client, url, images, 1)
            _, throughput, _ = measure(client, url, images, 4)
            rows[name]["latency"] += latency
            rows[name]["throughput"].append(throughput)
            rows[name]["stages"] += [b.get("timings_ms", {}) for b in bodies]
    stages = rows["ours"]["stages"]
    result: dict[str, Any] = {
        "images": len(images),
        "stock_failed": len(every) - len(images),
        **{
            name: {"latency_ms": summary(r["latency"]), "throughput_c4": statistics.median(r["throughput"])}
            for name, r in rows.items()
        },
        "our_stages_ms": {k: statistics.median(s[k] for s in stages) for k in stages[0]},
    }
    result["speedup_c4"] = result["ours"]["throughput_c4"] / result["stock"]["throughput_c4"]
    return result


def print_table(results: dict[str, dict[str, Any]]) -> None:
    header = ("images", "n (stock fail)", "ours p50 ms", "stock p50 ms", "ours img/s", "stock img/s", "ratio")
    print(("{:<20}" + "{:>15}" * 6).format(*header), " our stages p50 ms: decode/preprocess/inference/post")
    for group, r in results.items():
        st = r["our_stages_ms"]
        cells = (
            f"{r['images']} ({r['stock_failed']})",
            f"{r['ours']['latency_ms']['p50']:.1f}",
            f"{r['stock']['latency_ms']['p50']:.1f}",
            f"{r['ours']['throughput_c4']:.1f}",
            f"{r['stock']['throughput_c4']:.1f}",
            f"{r['speedup_c4']:.2f}",
        )
        stages = "/".join(f"{st[k]:.1f}" for k in ("decode", "preprocess", "inference", "postprocess"))
        print(("{:<20}" + "{:>15}" * 6).format(group, *cells), "", stages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, default=Path("runs/demo"), help="run directory that was exported")
    parser.add_argument("--model-store", type=Path, default=Path("model_store"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--synthetic", type=int, default=24, help="synthetic frames per pass")
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/handler_vs_stock.json"))
    args = parser.parse_args()

    synthetic = run_frames(args.run, args.synthetic)
    groups = {"synthetic 640x360": synthetic, **screenshot_groups()}
    groups = {name: images for name, images in groups.items() if images}
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        store.mkdir()
        (store / "fromsoft.mar").symlink_to((args.model_store / "fromsoft.mar").resolve())
        stock_archive(args.run, store)
        server = start_torchserve(store, Path(tmp) / "ts", models="fromsoft.mar,stock.mar")
        try:
            client = httpx.Client(
                headers=server.headers("inference"), timeout=120, limits=httpx.Limits(max_connections=16)
            )
            urls = {
                "ours": f"{server.inference_url}/predictions/fromsoft",
                "stock": f"{server.inference_url}/predictions/stock",
            }
            for url in urls.values():  # warm both workers up
                measure(client, url, groups["synthetic 640x360"][:4], 1)
            results = {group: compare(client, urls, every, args.rounds) for group, every in groups.items()}
        finally:
            server.stop()

    print_table(results)
    write_json(args.out, {"machine": machine(), "rounds": args.rounds, "results": results})


if __name__ == "__main__":
    main()
