"""Model registry: one entry per backbone with its builder, pretrained weights, eval preprocessing and
freezing stages. Adding a backbone is one entry; evaluation and serving read preprocessing from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from training.labels import LABELS
from training.preprocessing import Preprocessing


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights were asked for but cannot be had offline."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[[int, str], nn.Module]  # (num_classes, weights: "default" | "none" | path) -> model
    preprocessing: Preprocessing
    head: tuple[str, ...]  # parameter-name prefixes trained from the first epoch
    upper: tuple[str, ...]  # prefixes unfrozen after the head epochs (with a lower learning rate)
    gradcam_layer: str  # module whose activations Grad-CAM explains


def _load_state_file(model: nn.Module, path: str, skip_prefix: str) -> None:
    """Backbone weights from a file; the classifier head (``skip_prefix``) keeps its fresh init."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith(skip_prefix)}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith(skip_prefix) for k in missing):
        raise ValueError(
            f"{path}: does not fit the model (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )


def _build_resnet50(num_classes: int, weights: str) -> nn.Module:
    from torchvision.models import ResNet50_Weights, resnet50

    model = resnet50()
    if weights == "default":
        imagenet = ResNet50_Weights.IMAGENET1K_V2
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(imagenet.url).name
        if not cached.is_file():
            raise WeightsUnavailableError(
                f"resnet50's ImageNet weights are not in torchvision's cache ({cached}) and cannot be "
                "downloaded offline: pass --weights PATH to a ResNet50 state dict, --weights none to train "
                "from scratch, or use --arch efficientnet_lite0 (its weights ship with a Python package)"
            )
        model.load_state_dict(torch.load(cached, map_location="cpu", weights_only=True))
    elif weights != "none":
        _load_state_file(model, weights, "fc.")
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


def _build_efficientnet_lite0(num_classes: int, weights: str) -> nn.Module:
    import timm

    from training.pretrained import load_lite0_imagenet

    model = timm.create_model("efficientnet_lite0", pretrained=False)
    if weights == "default":
        load_lite0_imagenet(model)
    elif weights != "none":
        _load_state_file(model, weights, "classifier.")
    model.reset_classifier(num_classes)
    return model


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


def _build_tiny(num_classes: int, weights: str) -> nn.Module:
    model = TinyNet(num_classes)
    if weights not in ("default", "none"):
        _load_state_file(model, weights, "fc.")
    return model


# Frames are 16:9, so inputs are too: a square crop would cut the HUD off both sides.
_REGISTRY: dict[str, ModelSpec] = {
    "resnet50": ModelSpec(
        "resnet50", _build_resnet50, Preprocessing((224, 384), (224, 384)), ("fc.",), ("layer4.",), "layer4"
    ),
    "efficientnet_lite0": ModelSpec(
        "efficientnet_lite0",
        _build_efficientnet_lite0,
        Preprocessing((192, 336), (192, 336)),
        ("classifier.",),
        ("blocks.5.", "blocks.6.", "conv_head.", "bn2."),
        "bn2",
    ),
    "tiny": ModelSpec(
        "tiny", _build_tiny, Preprocessing((72, 128), (72, 128)), ("fc.",), ("features.",), "features"
    ),
}


def available() -> list[str]:
    return sorted(_REGISTRY)


def get_spec(arch: str) -> ModelSpec:
    try:
        return _REGISTRY[arch]
    except KeyError:
        raise KeyError(f"unknown arch {arch!r}; choose one of {', '.join(available())}") from None


def build_model(arch: str, num_classes: int = len(LABELS), weights: str = "default") -> nn.Module:
    return get_spec(arch).build(num_classes, weights)
