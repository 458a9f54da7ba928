"""Eval preprocessing: the single definition shared by evaluation, export and the serving handler,
and its version.

A ``Preprocessing`` is plain data (it travels inside checkpoints and model archives as JSON). The
eval transform resizes an image so that it covers ``resize_size`` with its aspect kept, centre-crops
``crop_size`` and normalises. Frames are 16:9, so the default sizes are 16:9-ish rather than square.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as F

# Bump when the eval transform below or the handler's decoding (handler.image_decode) changes the
# tensor a given upload becomes.
REVISION = "1"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    resize_size: tuple[int, int]  # (height, width) the image is scaled to cover, aspect kept
    crop_size: tuple[int, int]  # (height, width) centre crop fed to the model
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bilinear"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def version(self) -> str:
        """What the model sees, in 12 hex digits: part of every cache key, so that a change here or in
        how the handler decodes (``REVISION``) is never answered from answers cached before it."""
        described = json.dumps([self.to_dict(), REVISION], sort_keys=True).encode()
        return hashlib.sha256(described).hexdigest()[:12]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        return cls(
            resize_size=(int(data["resize_size"][0]), int(data["resize_size"][1])),
            crop_size=(int(data["crop_size"][0]), int(data["crop_size"][1])),
            mean=tuple(float(v) for v in data["mean"]),  # type: ignore[arg-type]
            std=tuple(float(v) for v in data["std"]),  # type: ignore[arg-type]
            interpolation=str(data.get("interpolation", "bilinear")),
        )


def cover_size(image_size: tuple[int, int], target: tuple[int, int]) -> tuple[int, int]:
    """(height, width) of the smallest aspect-kept scaling of ``image_size`` (w, h) covering ``target``."""
    width, height = image_size
    scale = max(target[0] / height, target[1] / width)
    return max(target[0], round(height * scale)), max(target[1], round(width * scale))


def eval_transform(image: Image.Image, pre: Preprocessing) -> torch.Tensor:
    """RGB PIL image -> normalised float tensor (3, H, W) exactly as the model saw it in evaluation."""
    resized = F.resize(
        image,
        list(cover_size(image.size, pre.resize_size)),
        interpolation=InterpolationMode(pre.interpolation),
        antialias=True,
    )
    cropped = F.center_crop(resized, list(pre.crop_size))
    return F.normalize(F.pil_to_tensor(cropped).float().div_(255.0), pre.mean, pre.std)
