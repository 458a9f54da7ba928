"""Fine-tune a registry backbone on a prepared run directory.

Class-weighted cross-entropy, AdamW, linear warm-up then cosine decay, and staged freezing: the head
alone for ``--head-epochs`` (cheap: the frozen backbone builds no autograd graph), then the upper
stages too at a lower learning rate. CPU or CUDA (AMP and channels_last there); multi-GPU and
multi-node through ``torchrun`` (DDP; only rank 0 writes).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from sklearn.metrics import f1_score
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from training.checkpoint import load_checkpoint, save_checkpoint
from training.cli import args_dict, save_args
from training.data import make_loader, read_manifest
from training.labels import LABELS
from training.presets import eval_preset, train_preset
from training.registry import WeightsUnavailableError, available, build_model, get_spec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="run directory written by `prepare`")
    parser.add_argument(
        "--arch",
        default="efficientnet_lite0",
        choices=available(),
        help="backbone (default efficientnet_lite0)",
    )
    parser.add_argument(
        "--weights",
        default="default",
        help="default (ImageNet), none, or a state-dict PATH (default default)",
    )
    parser.add_argument("--epochs", type=int, default=3, help="total epochs (default 3)")
    parser.add_argument(
        "--head-epochs", type=int, default=1, help="epochs training the head alone (default 1)"
    )
    parser.add_argument("--batch-size", type=int, default=32, help="per-process batch size (default 32)")
    parser.add_argument("--lr", type=float, default=1e-3, help="head learning rate (default 1e-3)")
    parser.add_argument(
        "--upper-lr-factor",
        type=float,
        default=0.1,
        help="upper-stage LR as a fraction of --lr (default 0.1)",
    )
    parser.add_argument("--weight-decay", type=float, default=0.05, help="AdamW weight decay (default 0.05)")
    parser.add_argument("--warmup-steps", type=int, default=20, help="linear warm-up steps (default 20)")
    parser.add_argument(
        "--label-smoothing", type=float, default=0.0, help="cross-entropy label smoothing (default 0)"
    )
    parser.add_argument("--square", action="store_true", help="square random crops instead of 16:9 ones")
    parser.add_argument("--workers", type=int, default=1, help="data-loading processes (default 1)")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch CPU threads, 0 = torch's default (default 0)"
    )
    parser.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    parser.add_argument("--channels-last", action="store_true", help="channels_last memory format (CUDA)")
    parser.add_argument(
        "--max-steps", type=int, default=0, help="stop each epoch after this many steps, 0 = all (default 0)"
    )
    parser.add_argument("--resume", action="store_true", help="continue from RUN_DIR/checkpoints/last.pt")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank); initialises the process group under torchrun."""
    if "RANK" not in os.environ:
        return 0, 1, 0
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))


def _set_stage(model: nn.Module, prefixes: tuple[str, ...]) -> None:
    """Train only parameters under ``prefixes``; frozen BatchNorm layers keep their running statistics."""
    for name, param in model.named_parameters():
        param.requires_grad = name.startswith(prefixes)
    model.train()
    for module in model.modules():
        params = list(module.parameters(recurse=False))
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and params and not params[0].requires_grad:
            module.eval()


def _schedule(warmup: int, total: int) -> Any:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


@torch.inference_mode()
def predict(
    model: nn.Module, loader: Any, device: torch.device, channels_last: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and labels over a loader, in order."""
    model.eval()
    logits, labels = [], []
    for images, targets in loader:
        images = images.to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        logits.append(model(images).float().cpu())
        labels.append(targets)
    return torch.cat(logits), torch.cat(labels)


def macro_f1(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float(
        f1_score(
            labels.numpy(),
            logits.argmax(1).numpy(),
            average="macro",
            labels=range(len(LABELS)),
            zero_division=0,
        )
    )


def main(args: argparse.Namespace) -> int:
    rank, world, local_rank = _distributed()
    torch.manual_seed(args.seed + rank)
    np.random.seed(args.seed + rank)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    cuda = device.type == "cuda"
    spec = get_spec(args.arch)
    run_dir: Path = args.run_dir
    ckpt_dir = run_dir / "checkpoints"

    rows = read_manifest(run_dir)
    train_rows = [r for r in rows if r.split == "train"]
    val_rows = [r for r in rows if r.split == "val"]
    weights = json.loads((run_dir / "class_weights.json").read_text())["weights"]
    try:
        model = build_model(args.arch, len(LABELS), args.weights).to(device)
    except WeightsUnavailableError as exc:
        print(f"train: error: {exc}")
        return 2
    channels_last = args.channels_last and cuda
    if channels_last:
        model = model.to(memory_format=torch.channels_last)

    train_loader = make_loader(
        train_rows,
        train_preset(spec.preprocessing, args.square),
        args.batch_size,
        args.workers,
        shuffle=True,
        distributed=world > 1,
        seed=args.seed,
    )
    val_loader = make_loader(
        val_rows, eval_preset(spec.preprocessing), args.batch_size, args.workers, shuffle=False
    )
    head = [p for n, p in model.named_parameters() if n.startswith(spec.head)]
    upper = [
        p for n, p in model.named_parameters() if n.startswith(spec.upper) and not n.startswith(spec.head)
    ]
    optimizer = torch.optim.AdamW(
        [{"params": head, "lr": args.lr}, {"params": upper, "lr": args.lr * args.upper_lr_factor}],
        weight_decay=args.weight_decay,
    )
    steps_per_epoch = len(train_loader) if not args.max_steps else min(args.max_steps, len(train_loader))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _schedule(args.warmup_steps, args.epochs * steps_per_epoch)
    )
    criterion = nn.CrossEntropyLoss(
        weight=torch.tensor(weights, dtype=torch.float32, device=device), label_smoothing=args.label_smoothing
    )
    scaler = torch.amp.GradScaler("cuda", enabled=args.amp and cuda)
    start_epoch, best_f1, history = 0, -1.0, []
    if args.resume and (ckpt_dir / "last.pt").is_file():
        state = load_checkpoint(ckpt_dir / "last.pt")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, best_f1 = state["epoch"] + 1, state["best_macro_f1"]
        history = (
            json.loads((run_dir / "history.json").read_text()) if (run_dir / "history.json").is_file() else []
        )
        if rank == 0:
            print(f"train: resumed from epoch {state['epoch']} (best val macro-F1 {best_f1:.4f})")
    if rank == 0:
        save_args(args, run_dir / "train_args.yaml")

    for epoch in range(start_epoch, args.epochs):
        stage = spec.head if epoch < args.head_epochs else spec.head + spec.upper
        _set_stage(model, stage)
        net: nn.Module = (
            DistributedDataParallel(model, device_ids=[local_rank] if cuda else None) if world > 1 else model
        )
        if world > 1:
            train_loader.sampler.set_epoch(epoch)  # type: ignore[union-attr]
        seen, correct, loss_sum, started = 0, 0, 0.0, time.perf_counter()
        bar = tqdm(
            train_loader, total=steps_per_epoch, desc=f"epoch {epoch + 1}/{args.epochs}", disable=rank != 0
        )
        for step, (images, targets) in enumerate(bar):
            if step >= steps_per_epoch:
                break
            images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
            if channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=torch.float16) if args.amp and cuda else nullcontext():
                outputs = net(images)
                loss = criterion(outputs, targets)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            seen += len(targets)
            correct += int((outputs.argmax(1) == targets).sum())
            loss_sum += float(loss) * len(targets)
            bar.set_postfix(
                loss=f"{loss_sum / seen:.3f}",
                acc=f"{correct / seen:.3f}",
                img_s=f"{seen * world / (time.perf_counter() - started):.1f}",
            )
        train_time = time.perf_counter() - started
        if rank != 0:
            continue
        val_logits, val_labels = predict(model, val_loader, device, channels_last)
        val_f1 = macro_f1(val_logits, val_labels)
        record = {
            "epoch": epoch,
            "stage": "head" if epoch < args.head_epochs else "upper",
            "train_loss": loss_sum / max(seen, 1),
            "train_accuracy": correct / max(seen, 1),
            "val_macro_f1": val_f1,
            "images_per_second": seen * world / train_time,
        }
        history.append(record)
        print(
            f"train: epoch {epoch + 1}: loss {record['train_loss']:.4f} acc {record['train_accuracy']:.3f} "
            f"val macro-F1 {val_f1:.4f} ({record['images_per_second']:.1f} images/s)"
        )
        improved = val_f1 > best_f1
        best_f1 = max(best_f1, val_f1)
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "epoch": epoch,
            "args": args_dict(args),
            "arch": args.arch,
            "class_names": list(LABELS),
            "preprocessing": spec.preprocessing.to_dict(),
            "best_macro_f1": best_f1,
        }
        save_checkpoint(ckpt_dir / "last.pt", state)
        if improved:
            save_checkpoint(ckpt_dir / "best.pt", state)
        (run_dir / "history.json").write_text(json.dumps(history, indent=2))
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    if rank == 0:
        print(f"train: best val macro-F1 {best_f1:.4f}; checkpoints in {ckpt_dir}")
    return 0
