"""Temperature scaling, expected calibration error, and the "unknown" threshold."""

from __future__ import annotations

import itertools
import math

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


def fewest_images_to_name(max_wrong: float) -> int:
    """The fewest calibration images with which risk_controlled_threshold can name anything at all: with
    ``n`` of them, even none named wrong bounds the share at 1 / (n + 1)."""
    return max(1, math.ceil(1.0 / max_wrong) - 1)


def risk_controlled_threshold(probs: np.ndarray, labels: np.ndarray, max_wrong: float) -> float:
    """The lowest threshold at which the expected share of new images named a wrong game is at most
    ``max_wrong``, by conformal risk control (Angelopoulos et al. 2022): the lowest ``t`` with
    ``(named_wrong(t) + 1) / (n + 1) <= max_wrong`` over these ``n`` images, which holds in expectation
    for a new image exchangeable with them. Above every confidence (nothing named) when none holds.

    For real screenshots, where a model retrained on a few dozen reviewed ones is right far less often
    than on its validation frames, ``unknown_threshold`` would call nearly everything unknown; what a
    visitor minds is a wrong game named, so this names as many as it can while bounding those. The plain
    empirical share (without the + 1) is optimistic on a few dozen images: cross-validated over the
    ``feedback`` screenshots, capping it at 0.10 named 10.4% of unseen ones wrong, this rule 6.7%
    (benchmarks/studies/refresh_choices.py).
    """
    confidence = probs.max(axis=1)
    wrong = probs.argmax(axis=1) != labels
    bound = max_wrong * (len(labels) + 1) - 1  # named wrong at most this many
    for candidate in np.unique(confidence):  # ascending: the first that holds names the most
        if (wrong & (confidence >= candidate)).sum() <= bound + 1e-9:
            return float(candidate)
    return float(np.nextafter(confidence.max(), np.inf))
