"""Fine-tune a backbone (training.backbones) on a prepared run directory.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from inference.labels import LABELS
from training.backbones import ModelSpec, WeightsUnavailableError, available, build_model, get_spec
from training.checkpoint import load_checkpoint, save_checkpoint
from training.cli import args_dict, save_args
from training.data import make_loader, read_manifest
from training.metrics import macro_f1
from training.presets import eval_preset, train_preset


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


def set_stage(model: nn.Module, prefixes: tuple[str, ...]) -> None:
    """Train only parameters under ``prefixes``; frozen BatchNorm layers keep their running statistics."""
    for name, param in model.named_parameters():
        param.requires_grad = name.startswith(prefixes)
    model.train()
    for module in model.modules():
        params = list(module.parameters(recurse=False))
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and params and not params[0].requires_grad:
            module.eval()


def _schedule(warmup: int, total: int) -> Any:
    """The learning rate's factor at each step: linear warm-up over ``warmup`` steps, then cosine decay."""

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


@dataclass(frozen=True)
class Session:
    """Where this process trains: its rank among ``world`` processes and its device."""

    rank: int
    world: int
    local_rank: int
    device: torch.device
    channels_last: bool
    amp: bool

    @classmethod
    def start(cls, args: argparse.Namespace) -> Session:
        rank, world, local_rank = _distributed()
        torch.manual_seed(args.seed + rank)
        np.random.seed(args.seed + rank)
        if args.threads:
            torch.set_num_threads(args.threads)
        cuda = torch.cuda.is_available()
        device = torch.device(f"cuda:{local_rank}" if cuda else "cpu")
        return cls(rank, world, local_rank, device, args.channels_last and cuda, args.amp and cuda)

    def images(self, batch: torch.Tensor) -> torch.Tensor:
        batch = batch.to(self.device, non_blocking=True)
        return batch.contiguous(memory_format=torch.channels_last) if self.channels_last else batch


@dataclass
class Trainer:
    """What an epoch needs: the model and how it learns."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    criterion: nn.Module
    scaler: torch.amp.GradScaler


def load_data(args: argparse.Namespace, spec: ModelSpec, session: Session) -> tuple[Any, Any, int]:
    """The train and validation loaders, and the steps an epoch takes."""
    rows = read_manifest(args.run_dir)
    train_loader = make_loader(
        [r for r in rows if r.split == "train"],
        train_preset(spec.preprocessing, args.square),
        args.batch_size,
        args.workers,
        shuffle=True,
        distributed=session.world > 1,
        seed=args.seed,
    )
    val_loader = make_loader(
        [r for r in rows if r.split == "val"],
        eval_preset(spec.preprocessing),
        args.batch_size,
        args.workers,
        shuffle=False,
    )
    steps = len(train_loader) if not args.max_steps else min(args.max_steps, len(train_loader))
    return train_loader, val_loader, steps


def staged_optimizer(
    spec: ModelSpec,
    model: nn.Module,
    lr: float,
    upper_lr_factor: float,
    weight_decay: float,
    warmup: int,
    total: int,
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """AdamW with the head at ``lr`` and the upper stages at ``upper_lr_factor`` of it, warm-up then
    cosine over ``total`` steps (also training.refresh_fit's fine-tuning)."""
    head = [p for n, p in model.named_parameters() if n.startswith(spec.head)]
    upper = [
        p for n, p in model.named_parameters() if n.startswith(spec.upper) and not n.startswith(spec.head)
    ]
    optimizer = torch.optim.AdamW(
        [{"params": head, "lr": lr}, {"params": upper, "lr": lr * upper_lr_factor}], weight_decay=weight_decay
    )
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(warmup, total))


def create_trainer(
    args: argparse.Namespace, spec: ModelSpec, model: nn.Module, session: Session, steps_per_epoch: int
) -> Trainer:
    """``staged_optimizer`` with train's flags, and cross-entropy weighted against the class imbalance
    ``prepare`` measured."""
    optimizer, scheduler = staged_optimizer(
        spec,
        model,
        args.lr,
        args.upper_lr_factor,
        args.weight_decay,
        args.warmup_steps,
        args.epochs * steps_per_epoch,
    )
    weights = json.loads((args.run_dir / "class_weights.json").read_text())["weights"]
    criterion = nn.CrossEntropyLoss(
        weight=torch.tensor(weights, dtype=torch.float32, device=session.device),
        label_smoothing=args.label_smoothing,
    )
    return Trainer(model, optimizer, scheduler, criterion, torch.amp.GradScaler("cuda", enabled=session.amp))


def resume(args: argparse.Namespace, trainer: Trainer, session: Session) -> tuple[int, float, list[dict]]:
    """(first epoch, best validation macro-F1, history so far): from ``last.pt`` with ``--resume``."""
    last = args.run_dir / "checkpoints" / "last.pt"
    if not (args.resume and last.is_file()):
        return 0, -1.0, []
    state = load_checkpoint(last)
    trainer.model.load_state_dict(state["model"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.scheduler.load_state_dict(state["scheduler"])
    history_file = args.run_dir / "history.json"
    history = json.loads(history_file.read_text()) if history_file.is_file() else []
    if session.rank == 0:
        print(f"train: resumed from epoch {state['epoch']} (best val macro-F1 {state['best_macro_f1']:.4f})")
    return state["epoch"] + 1, state["best_macro_f1"], history


def train_one_epoch(
    trainer: Trainer, net: nn.Module, loader: Any, steps: int, session: Session, label: str
) -> dict[str, float]:
    """One pass over (at most ``steps`` batches of) the training split: loss, accuracy and speed."""
    seen, correct, loss_sum, started = 0, 0, 0.0, time.perf_counter()
    bar = tqdm(loader, total=steps, desc=label, disable=session.rank != 0)
    for step, (images, targets) in enumerate(bar):
        if step >= steps:
            break
        images, targets = session.images(images), targets.to(session.device, non_blocking=True)
        with torch.autocast("cuda", dtype=torch.float16) if session.amp else nullcontext():
            outputs = net(images)
            loss = trainer.criterion(outputs, targets)
        trainer.optimizer.zero_grad(set_to_none=True)
        trainer.scaler.scale(loss).backward()
        trainer.scaler.step(trainer.optimizer)
        trainer.scaler.update()
        trainer.scheduler.step()
        seen += len(targets)
        correct += int((outputs.argmax(1) == targets).sum())
        loss_sum += loss.item() * len(targets)
        speed = seen * session.world / (time.perf_counter() - started)
        bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}", img_s=f"{speed:.1f}")
    seconds = time.perf_counter() - started
    return {
        "train_loss": loss_sum / max(seen, 1),
        "train_accuracy": correct / max(seen, 1),
        "images_per_second": seen * session.world / seconds,
    }


def save_epoch(
    args: argparse.Namespace, spec: ModelSpec, trainer: Trainer, epoch: int, best_f1: float, improved: bool
) -> None:
    """``last.pt`` always, ``best.pt`` when validation improved: model, optimizer, scheduler, epoch and
    arguments, so that a run resumes and reproduces."""
    state = {
        "model": trainer.model.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict(),
        "epoch": epoch,
        "args": args_dict(args),
        "arch": args.arch,
        "class_names": list(LABELS),
        "preprocessing": spec.preprocessing.to_dict(),
        "best_macro_f1": best_f1,
    }
    checkpoints = args.run_dir / "checkpoints"
    save_checkpoint(checkpoints / "last.pt", state)
    if improved:
        save_checkpoint(checkpoints / "best.pt", state)


def main(args: argparse.Namespace) -> int:
    session = Session.start(args)
    spec = get_spec(args.arch)
    try:
        model = build_model(args.arch, len(LABELS), args.weights).to(session.device)
    except WeightsUnavailableError as exc:
        print(f"train: error: {exc}")
        return 2
    if session.channels_last:
        model = model.to(memory_format=torch.channels_last)
    train_loader, val_loader, steps = load_data(args, spec, session)
    trainer = create_trainer(args, spec, model, session, steps)
    start_epoch, best_f1, history = resume(args, trainer, session)
    if session.rank == 0:
        save_args(args, args.run_dir / "train_args.yaml")

    for epoch in range(start_epoch, args.epochs):
        head_only = epoch < args.head_epochs
        set_stage(model, spec.head if head_only else spec.head + spec.upper)
        net: nn.Module = model
        if session.world > 1:
            on_gpu = session.device.type == "cuda"
            net = DistributedDataParallel(model, device_ids=[session.local_rank] if on_gpu else None)
            train_loader.sampler.set_epoch(epoch)
        stats = train_one_epoch(
            trainer, net, train_loader, steps, session, f"epoch {epoch + 1}/{args.epochs}"
        )
        if session.rank != 0:
            continue
        logits, labels = predict(model, val_loader, session.device, session.channels_last)
        val_f1 = macro_f1(labels.numpy(), logits.argmax(1).numpy())
        record = {"epoch": epoch, "stage": "head" if head_only else "upper", **stats, "val_macro_f1": val_f1}
        history.append(record)
        print(
            f"train: epoch {epoch + 1}: loss {record['train_loss']:.4f} acc {record['train_accuracy']:.3f} "
            f"val macro-F1 {val_f1:.4f} ({record['images_per_second']:.1f} images/s)"
        )
        improved, best_f1 = val_f1 > best_f1, max(best_f1, val_f1)
        save_epoch(args, spec, trainer, epoch, best_f1, improved=improved)
        (args.run_dir / "history.json").write_text(json.dumps(history, indent=2))
    if session.world > 1:
        dist.barrier()
        dist.destroy_process_group()
    if session.rank == 0:
        print(f"train: best val macro-F1 {best_f1:.4f}; checkpoints in {args.run_dir / 'checkpoints'}")
    return 0
