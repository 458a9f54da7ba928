"""Train and eval transforms as two named presets. Eval delegates to ``inference.preprocessing`` so
training, evaluation and the serving handler cannot drift apart."""

from __future__ import annotations

from collections.abc import Callable

import torch
from PIL import Image
from torchvision.transforms import v2

from inference.preprocessing import Preprocessing, eval_transform


def train_preset(pre: Preprocessing, square: bool = False) -> Callable[[Image.Image], torch.Tensor]:
    """Random resized crop that keeps the frame's aspect (16:9) unless ``square``, flip, mild jitter.

    The colour jitter is mild on purpose: each game's palette is part of what the model must learn.
    """
    height, width = pre.crop_size
    if square:
        size, ratio = (height, height), (3 / 4, 4 / 3)
    else:
        size, ratio = (height, width), (0.85 * width / height, 1.15 * width / height)
    return v2.Compose(
        [
            v2.PILToTensor(),
            v2.RandomResizedCrop(size, scale=(0.55, 1.0), ratio=ratio, antialias=True),
            v2.RandomHorizontalFlip(),
            v2.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.15, hue=0.02),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(list(pre.mean), list(pre.std)),
        ]
    )


def eval_preset(pre: Preprocessing) -> Callable[[Image.Image], torch.Tensor]:
    return lambda image: torch.from_numpy(eval_transform(image, pre))
