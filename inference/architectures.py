"""The model architectures, as serving needs them: each builds a fresh model for a number of classes
and says what it eats (its eval preprocessing) and which layer Grad-CAM explains. Pretrained weights
and which stages to unfreeze are training's business (training.backbones)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

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


def stage_statistics(x: torch.Tensor) -> list[torch.Tensor]:
    """A stage's output summarised per channel: its mean and standard deviation over space. Elementwise
    ops and means only, so that every serving form (TorchScript, ONNX, int8) exports it."""
    mean = x.mean((2, 3), keepdim=True)
    spread = (x - mean).square().mean((2, 3)).add(1e-6).sqrt()
    return [mean.flatten(1), spread]


class StagePooledLite0(nn.Module):
    """efficientnet_lite0 whose classifier reads, beside the pooled final features, the mean and standard
    deviation over space of every block stage's output (1280 + 2 x 784 features). The early stages carry
    a game's look (colour grading, texture, the HUD's strokes) that the final embedding, trained on
    synthetic frames, discards: with a head refitted on 45 real screenshots, nested cross-validation named
    44% right with the final embedding alone and 51% with the stages' statistics too (BENCHMARKS.md,
    Retraining on reviewed screenshots). Parameter names are efficientnet_lite0's, so its weights load
    unchanged but for the wider classifier."""

    def __init__(self, num_classes: int = len(LABELS)) -> None:
        super().__init__()
        net = _efficientnet_lite0(num_classes)
        self.conv_stem, self.bn1 = net.get_submodule("conv_stem"), net.get_submodule("bn1")
        self.blocks = cast(nn.Sequential, net.get_submodule("blocks"))
        self.conv_head, self.bn2 = net.get_submodule("conv_head"), net.get_submodule("bn2")
        # a stage's output width: its last convolution's (the projection of its last block)
        widths = [
            [m for m in stage.modules() if isinstance(m, nn.Conv2d)][-1].out_channels for stage in self.blocks
        ]
        self.classifier = nn.Linear(cast(int, net.num_features) + 2 * sum(widths), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = []
        x = self.bn1(self.conv_stem(x))
        for stage in self.blocks:
            x = stage(x)
            features += stage_statistics(x)
        x = self.bn2(self.conv_head(x))
        return self.classifier(torch.cat([x.mean((2, 3)), *features], 1))


TINY_WIDTHS = (16, 32, 64, 96)  # TinyNet's stages, each a convolution, a batch norm and a ReLU


class TinyNet(nn.Module):
    """A four-stage CNN for fast CPU tests; not a real backbone."""

    def __init__(self, num_classes: int = len(LABELS)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for width in TINY_WIDTHS:
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


class TinyStagesNet(TinyNet):
    """TinyNet whose classifier also reads each stage's statistics after the pooled features, as
    StagePooledLite0 does for efficientnet_lite0: the tests' tiny runs take refresh's default path (its
    ``--embedding stages``) end to end. TinyNet's parameter names, but for the wider ``fc``."""

    def __init__(self, num_classes: int = len(LABELS)) -> None:
        super().__init__(num_classes)
        self.fc = nn.Linear(TINY_WIDTHS[-1] + 2 * sum(TINY_WIDTHS), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = []
        for layer in self.features:
            x = layer(x)
            if isinstance(layer, nn.ReLU):  # a stage's end
                features += stage_statistics(x)
        return self.fc(torch.cat([torch.flatten(self.pool(x), 1), *features], 1))


# Frames are 16:9, so inputs are too: a square crop would cut the HUD off both sides.
ARCHITECTURES: dict[str, Architecture] = {
    "resnet50": Architecture("resnet50", _resnet50, Preprocessing((224, 384), (224, 384)), "fc.", "layer4"),
    "efficientnet_lite0": Architecture(
        "efficientnet_lite0", _efficientnet_lite0, Preprocessing((192, 336), (192, 336)), "classifier.", "bn2"
    ),
    "efficientnet_lite0_stages": Architecture(
        "efficientnet_lite0_stages",
        StagePooledLite0,
        Preprocessing((192, 336), (192, 336)),
        "classifier.",
        "bn2",
    ),
    "tiny": Architecture("tiny", TinyNet, Preprocessing((72, 128), (72, 128)), "fc.", "features"),
    # Grad-CAM reads the last stage's ReLU: the same tensor as TinyNet's "features", which this
    # forward runs layer by layer and so never calls as a whole.
    "tiny_stages": Architecture(
        "tiny_stages", TinyStagesNet, Preprocessing((72, 128), (72, 128)), "fc.", "features.11"
    ),
}


def architecture(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise KeyError(f"unknown arch {name!r}; choose one of {', '.join(sorted(ARCHITECTURES))}") from None
