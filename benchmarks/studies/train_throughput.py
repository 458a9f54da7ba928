"""Training throughput on the CPU: images/s of a full training step for efficientnet_lite0 and resnet50
at 224 px (batch 32, random init: speed does not depend on the weights), and the data loader alone.

    python -m benchmarks.studies.train_throughput --data runs/demo --out artifacts/bench/train.json
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from benchmarks.common.report import machine, write_json
from inference.preprocessing import Preprocessing
from training.backbones import build_model
from training.data import make_loader, read_manifest
from training.presets import train_preset


def step_rate(arch: str, size: tuple[int, int], batch: int, steps: int) -> float:
    model = build_model(arch, weights="none").train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    images, labels = torch.randn(batch, 3, *size), torch.randint(0, 7, (batch,))
    rates = []
    for i in range(steps + 1):
        started = time.perf_counter()
        optimizer.zero_grad()
        loss_fn(model(images), labels).backward()
        optimizer.step()
        if i:  # the first step warms allocators up
            rates.append(batch / (time.perf_counter() - started))
    return statistics.median(rates)


def loader_rate(run_dir: Path, size: tuple[int, int], batch: int, workers: int, batches: int) -> float:
    rows = [r for r in read_manifest(run_dir) if r.split == "train"][: batch * (batches + 1)]
    loader = make_loader(rows, train_preset(Preprocessing(size, size)), batch, workers, shuffle=False)
    iterator = iter(loader)
    next(iterator)  # worker start-up is not throughput
    started = time.perf_counter()
    seen = sum(len(labels) for _, (_, labels) in zip(range(batches), iterator, strict=False))
    return seen / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("runs/demo"), help="a prepared run directory")
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/train.json"))
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    size = (224, 224)
    results = {
        arch: step_rate(arch, size, args.batch_size, args.steps)
        for arch in ("efficientnet_lite0", "resnet50")
    }
    results["loader_1_worker"] = loader_rate(args.data, size, args.batch_size, 1, 10)
    results["loader_2_workers"] = loader_rate(args.data, size, args.batch_size, 2, 10)
    print(f"{'what':<22} images/s (224 px, batch {args.batch_size}, {torch.get_num_threads()} threads)")
    for name, rate in results.items():
        print(f"{name:<22} {rate:8.1f}")
    write_json(args.out, {"machine": machine(), "images_per_second": results, "batch_size": args.batch_size})


if __name__ == "__main__":
    main()
