"""Heads trained on a frozen backbone's pooled embedding, written into the model's own final Linear layer.

Chen et al. 2019 ("A Closer Look at Few-shot Classification") found a linear or cosine classifier on a
frozen embedding the strongest few-shot method under domain shift, and it is cheap on a CPU: the
backbone runs once per image, the head is fitted on the stored embeddings in seconds. Both heads here end
as a weight matrix and a bias, so the model keeps its architecture and every serving form (ONNX, int8)
exports as before.

- ``logreg``: multinomial logistic regression (scikit-learn) on standardised embeddings, the scaling
  folded into the weights afterwards.
- ``cosine``: Chen et al.'s Baseline++, logits ``SCALE * cos(w_c, x)`` trained on the embeddings. A Linear
  layer cannot divide by each image's norm, so the served layer holds the unit prototypes scaled by the
  embeddings' median norm: the same ranking for every image, confidences that grow with the image's
  norm (the temperature is fitted afterwards on the served logits, which absorbs the common part).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from inference.architectures import architecture
from inference.labels import LABELS

HEADS = ("logreg", "cosine")
SCALE = 10.0  # Baseline++'s scale of the cosine logits (Chen et al. used 2 to 10; 10 trains fastest here)
ABSENT_MARGIN = 20.0  # logits under the lowest bias for a class with no training image: never the answer


@dataclass(frozen=True)
class Head:
    weight: np.ndarray  # (classes, embedding)
    bias: np.ndarray  # (classes,)

    def logits(self, embeddings: np.ndarray) -> np.ndarray:
        return embeddings @ self.weight.T + self.bias


def classifier(model: nn.Module, arch: str) -> nn.Linear:
    layer = model.get_submodule(architecture(arch).classifier.rstrip("."))
    if not isinstance(layer, nn.Linear):
        raise TypeError(f"{arch}'s classifier is a {type(layer).__name__}, not a Linear layer")
    return layer


@torch.inference_mode()
def embed(model: nn.Module, arch: str, loader: Any, desc: str) -> tuple[np.ndarray, np.ndarray]:
    """The classifier's input (the pooled embedding) and the label for every image of ``loader``."""
    captured: list[torch.Tensor] = []
    hook = classifier(model, arch).register_forward_hook(lambda _m, args, _out: captured.append(args[0]))
    labels = []
    model.eval()
    try:
        for images, targets in tqdm(loader, desc=desc, unit="batch"):
            model(images)
            labels.append(targets)
    finally:
        hook.remove()
    return torch.cat(captured).float().numpy(), torch.cat(labels).numpy()


def _full(head_rows: np.ndarray, bias: np.ndarray, present: np.ndarray) -> Head:
    """Rows for the classes fitted, and a class no training image had kept below every other."""
    weight = np.zeros((len(LABELS), head_rows.shape[1]), np.float64)
    full_bias = np.full(len(LABELS), bias.min() - ABSENT_MARGIN)
    weight[present], full_bias[present] = head_rows, bias
    return Head(weight.astype(np.float32), full_bias.astype(np.float32))


def fit_logreg(x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray, c: float, seed: int = 0) -> Head:
    scaler = StandardScaler().fit(x, sample_weight=sample_weight)
    model = LogisticRegression(C=c, max_iter=3000, random_state=seed)
    model.fit(scaler.transform(x), y, sample_weight=sample_weight)
    scale = scaler.scale_
    weight = model.coef_ / scale
    bias = model.intercept_ - (model.coef_ * scaler.mean_ / scale).sum(1)
    if len(model.classes_) == 2:  # scikit-learn keeps one row for two classes
        weight, bias = np.vstack([-weight, weight]) / 2, np.r_[-bias, bias] / 2
    return _full(weight, bias, model.classes_)


def fit_cosine(
    x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray, seed: int = 0, max_iter: int = 100
) -> Head:
    """Baseline++ on fixed embeddings: the weighted cross-entropy of the cosine logits, minimised over the
    whole set at once with L-BFGS (a few dozen evaluations of a (N, D) x (D, classes) product)."""
    generator = torch.Generator().manual_seed(seed)
    present = np.unique(y)
    index = {c: i for i, c in enumerate(present)}
    features = F.normalize(torch.from_numpy(x).float(), dim=1)
    targets = torch.tensor([index[c] for c in y])
    weights = torch.from_numpy(sample_weight / sample_weight.sum()).float()
    prototypes = torch.randn(len(present), x.shape[1], generator=generator).mul_(0.01).requires_grad_()
    optimizer = torch.optim.LBFGS([prototypes], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logits = SCALE * features @ F.normalize(prototypes, dim=1).T
        loss = (F.cross_entropy(logits, targets, reduction="none") * weights).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    norm = float(np.median(np.linalg.norm(x, axis=1))) or 1.0
    served = (SCALE / norm) * F.normalize(prototypes.detach(), dim=1).numpy()
    return _full(served, np.zeros(len(present)), present)


@contextmanager
def one_thread() -> Iterator[None]:
    """torch and BLAS on one thread: a head's products are too small to share. Measured with other jobs on
    the two cores: a cosine head on 2,500 embeddings in 1.5 s on one thread against 32 s on two, logistic
    regression 1.3 s against 4.4 s."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(previous)


def fit_head(
    method: str, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray, c: float, seed: int
) -> Head:
    with one_thread():
        if method == "logreg":
            return fit_logreg(x, y, sample_weight, c, seed)
        if method == "cosine":
            return fit_cosine(x, y, sample_weight, seed)
    raise ValueError(f"unknown head {method!r}; choose one of {', '.join(HEADS)}")


def write_head(model: nn.Module, arch: str, head: Head) -> None:
    """Replace the model's final Linear layer's weights with ``head``'s, in place."""
    layer = classifier(model, arch)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(head.weight))
        layer.bias.copy_(torch.from_numpy(head.bias))
