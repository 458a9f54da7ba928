"""Temperature scaling, expected calibration error, and the "unknown" threshold."""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch.nn import functional as F

MIN_TEMPERATURE, MAX_TEMPERATURE = 0.5, 10.0


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, max_iter: int = 100) -> float:
    """The temperature T minimising the NLL of softmax(logits / T) (Guo et al., 2017), fitted with LBFGS.

    T is bounded: on a validation split the model gets entirely right, the NLL keeps falling as T -> 0
    and an unbounded fit would make every answer look certain, which defeats the unknown threshold.
    """
    logits, labels = logits.clone(), labels.clone()  # may come from inference mode, which autograd refuses
    log_t = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp().clamp(MIN_TEMPERATURE, MAX_TEMPERATURE).item())


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in itertools.pairwise(edges):
        in_bin = (confidence > lo) & (confidence <= hi)
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def unknown_threshold(
    probs: np.ndarray,
    labels: np.ndarray,
    keep: float = 0.95,
    target_accuracy: float = 0.95,
    ceiling: float = 0.9,
) -> float:
    """Confidence under which the verdict is "unknown", chosen on the validation split.

    Start at the threshold that still accepts ``keep`` of the correct validation answers, so images
    unlike anything seen in training (other games, photos) tend to fall below it; raise it if needed
    until the accepted answers reach ``target_accuracy``; never above ``ceiling`` unless accuracy needs it.
    """
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    if not correct.any():
        return 0.0
    # The ceiling keeps a near-perfect validation split (every confidence ~1.0) from turning every
    # slightly less certain real screenshot into "unknown".
    threshold = min(float(np.quantile(confidence[correct], 1.0 - keep)), ceiling)
    for candidate in [threshold, *np.unique(confidence[confidence > threshold])]:
        accepted = confidence >= candidate
        if correct[accepted].mean() >= target_accuracy:
            return float(candidate)
    return threshold
