"""The figures evaluate writes beside its report: the confusion matrix (seaborn), counts or
row-normalised, and the reliability diagram before and after temperature scaling."""

from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from inference.labels import DISPLAY_NAMES, LABELS


def plot_confusion(matrix: np.ndarray, path: Path, normalised: bool, title: str | None = None) -> None:
    names = [DISPLAY_NAMES[label] for label in LABELS]
    fig, ax = plt.subplots(figsize=(8, 6.5))
    sns.heatmap(
        matrix,
        annot=True,
        fmt=".2f" if normalised else "d",
        cmap="rocket_r",
        xticklabels=names,
        yticklabels=names,
        ax=ax,
        vmin=0,
        vmax=1 if normalised else None,
        cbar=True,
    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(
        title or ("Confusion matrix (row-normalised)" if normalised else "Confusion matrix (counts)")
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_reliability(before: np.ndarray, after: np.ndarray, labels: np.ndarray, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    edges = np.linspace(0, 1, 11)
    for probs, name in ((before, "before"), (after, "after temperature")):
        conf, correct = probs.max(1), probs.argmax(1) == labels
        xs, ys = [], []
        for lo, hi in itertools.pairwise(edges):
            mask = (conf > lo) & (conf <= hi)
            if mask.any():
                xs.append(conf[mask].mean())
                ys.append(correct[mask].mean())
        ax.plot(xs, ys, marker="o", label=name)
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title("Reliability (test split)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
