"""Eval preprocessing: the single definition shared by evaluation, export and the serving handler,
and its version.

A ``Preprocessing`` is plain data (it travels inside checkpoints and model archives as JSON). The
eval transform cuts uniform borders (inference.borders), resizes the image so that it covers
``resize_size`` with its aspect kept, centre-crops ``crop_size`` and normalises. Frames are 16:9, so
the default sizes are 16:9-ish rather than square.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image

from inference.borders import trim_borders
from inference.image_limits import check_aspect

# Bump when the eval transform below or the handler's decoding (handler.image_decode) changes the
# tensor a given upload becomes. 3: letterboxed and pillarboxed images lose their bars (inference.borders).
# 4: an image is reduced before its EXIF turn, so a turned PNG or WebP is never copied whole (a turned
# one whose sides are no multiple of the factor is averaged over other blocks; the 118 real screenshots
# give the same tensors bit for bit).
REVISION = "4"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
_RESAMPLE = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}
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
    """(height, width) of the smallest aspect-kept scaling of ``image_size`` (w, h) covering ``target``.

    An image with one side more than ``MAX_ASPECT`` times the other is refused (ImageLimitError), which
    holds the result within ``MAX_ASPECT`` times the target's sides: a 16588800x1 PNG asked for a resize
    to billions of pixels, even from a caller that skipped the header check."""
    width, height = image_size
    check_aspect(width, height)
    scale = max(target[0] / height, target[1] / width)
    return max(target[0], round(height * scale)), max(target[1], round(width * scale))


def eval_transform(image: Image.Image, pre: Preprocessing, cut_borders: bool = True) -> np.ndarray:
    """RGB PIL image -> normalised float32 array (3, H, W) exactly as the model saw it in evaluation.

    Uniform borders go first (``cut_borders``; off only to measure what cutting them changes). Then
    Pillow and numpy only, bit for bit what torchvision's resize, center_crop, to-tensor and normalize
    give: torch's ops would start an OpenMP thread pool that keeps spinning after each call and slowed
    ONNX Runtime's inference that follows by about 1 ms in 5 on 2 cores (docs/performance-log.md, The
    whole stack: what was changed for speed, and what each gave).
    """
    if cut_borders:
        image = trim_borders(image)
    height, width = cover_size(image.size, pre.resize_size)
    resized = image.resize((width, height), resample=_RESAMPLE[pre.interpolation])
    crop_h, crop_w = pre.crop_size
    top, left = round((height - crop_h) / 2.0), round((width - crop_w) / 2.0)  # as torchvision rounds
    pixels = np.asarray(resized.crop((left, top, left + crop_w, top + crop_h)))
    table = _normalised_values(pre.mean, pre.std)
    out = np.empty((3, crop_h, crop_w), np.float32)
    for channel in range(3):  # a lookup per byte, straight into the (3, H, W) layout
        np.take(table[channel], pixels[:, :, channel], out=out[channel])
    return out


@functools.cache
def _normalised_values(mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """(3, 256): every byte value of each channel normalised in float32 by torchvision's steps in its
    order (divide by 255, subtract the mean, divide by the std), so that looking them up gives the same
    bits as computing them, in three quarters of the time (docs/performance-log.md, The whole stack:
    what was changed for speed, and what each gave)."""
    values = np.arange(256, dtype=np.float32)[:, None] / np.float32(255.0)
    table = np.ascontiguousarray(((values - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)).T)
    table.setflags(write=False)  # shared by every call
    return table
