"""The model architectures, as serving needs them: each builds a fresh model for a number of classes
and says what it eats (its eval preprocessing) and which layer Grad-CAM explains. Pretrained weights
and which stages to unfreeze are training's business (training.backbones)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from inference.labels import LABELS
from inference.preprocessing import Preprocessing


@dataclass(frozen=True)
class Architecture:
    name: str
    create: Callable[[int], nn.Module]  # num_classes -> a fresh, randomly initialised model
    preprocessing: Preprocessing
    classifier: str  # parameter-name prefix of the classification head
    gradcam_layer: str  # module whose activations Grad-CAM explains


def _resnet50(num_classes: int) -> nn.Module:
    from torchvision.models import resnet50

    return resnet50(num_classes=num_classes)


def _efficientnet_lite0(num_classes: int) -> nn.Module:
    import timm

    return timm.create_model("efficientnet_lite0", pretrained=False, num_classes=num_classes)


class TinyNet(nn.Module):
    """A four-stage CNN for fast CPU tests; not a real backbone."""

    def __init__(self, num_classes: int = len(LABELS)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for width in (16, 32, 64, 96):
            layers += [
                nn.Conv2d(channels, width, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            channels = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


# Frames are 16:9, so inputs are too: a square crop would cut the HUD off both sides.
ARCHITECTURES: dict[str, Architecture] = {
    "resnet50": Architecture("resnet50", _resnet50, Preprocessing((224, 384), (224, 384)), "fc.", "layer4"),
    "efficientnet_lite0": Architecture(
        "efficientnet_lite0", _efficientnet_lite0, Preprocessing((192, 336), (192, 336)), "classifier.", "bn2"
    ),
    "tiny": Architecture("tiny", TinyNet, Preprocessing((72, 128), (72, 128)), "fc.", "features"),
}


def architecture(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise KeyError(f"unknown arch {name!r}; choose one of {', '.join(sorted(ARCHITECTURES))}") from None
