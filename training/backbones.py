"""Training's view of the architectures (inference.architectures): where each one's pretrained weights
come from and which stages it trains first. Adding a backbone is one entry there and one here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from inference.architectures import ARCHITECTURES, Architecture, architecture
from inference.labels import LABELS
from inference.preprocessing import Preprocessing

State = dict[str, torch.Tensor]


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights were asked for but cannot be had offline."""


@dataclass(frozen=True)
class ModelSpec:
    architecture: Architecture
    imagenet: Callable[[], State] | None  # the ImageNet weights (any head), or None: random init only
    head: tuple[str, ...]  # parameter-name prefixes trained from the first epoch
    upper: tuple[str, ...]  # prefixes unfrozen after the head epochs (with a lower learning rate)

    @property
    def preprocessing(self) -> Preprocessing:
        return self.architecture.preprocessing


def _resnet50_imagenet() -> State:
    from torchvision.models import ResNet50_Weights

    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(ResNet50_Weights.IMAGENET1K_V2.url).name
    if not cached.is_file():
        raise WeightsUnavailableError(
            f"resnet50's ImageNet weights are not in torchvision's cache ({cached}) and cannot be "
            "downloaded offline: pass --weights PATH to a ResNet50 state dict, --weights none to train "
            "from scratch, or use --arch efficientnet_lite0 (its weights ship with a Python package)"
        )
    state: State = torch.load(cached, map_location="cpu", weights_only=True)
    return state


def _lite0_imagenet() -> State:
    import timm

    from training.pretrained import load_lite0_imagenet

    model = timm.create_model("efficientnet_lite0", pretrained=False)  # the weights' 1000-class head
    load_lite0_imagenet(model)
    return model.state_dict()


_SPECS: dict[str, ModelSpec] = {
    "resnet50": ModelSpec(ARCHITECTURES["resnet50"], _resnet50_imagenet, ("fc.",), ("layer4.",)),
    "efficientnet_lite0": ModelSpec(
        ARCHITECTURES["efficientnet_lite0"],
        _lite0_imagenet,
        ("classifier.",),
        ("blocks.5.", "blocks.6.", "conv_head.", "bn2."),
    ),
    "efficientnet_lite0_stages": ModelSpec(
        ARCHITECTURES["efficientnet_lite0_stages"],
        _lite0_imagenet,
        ("classifier.",),
        ("blocks.5.", "blocks.6.", "conv_head.", "bn2."),
    ),
    "tiny": ModelSpec(ARCHITECTURES["tiny"], None, ("fc.",), ("features.",)),
    "tiny_stages": ModelSpec(ARCHITECTURES["tiny_stages"], None, ("fc.",), ("features.",)),
}
# Each backbone's variant whose classifier also reads every stage's mean and spread (the same weights).
STAGE_STATISTICS = {"efficientnet_lite0": "efficientnet_lite0_stages", "tiny": "tiny_stages"}


def available() -> list[str]:
    return sorted(_SPECS)


def get_spec(arch: str) -> ModelSpec:
    architecture(arch)  # the same message for an unknown name everywhere
    return _SPECS[arch]


def _load_backbone(model: nn.Module, state: State, classifier: str, source: str) -> None:
    """Every weight of ``state`` but the classifier's: the head keeps its fresh init for our classes."""
    state = {k: v for k, v in state.items() if not k.startswith(classifier)}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith(classifier) for k in missing):
        raise ValueError(
            f"{source}: does not fit the model (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )


def with_stage_statistics(model: nn.Module, arch: str) -> tuple[nn.Module, str]:
    """``model`` rebuilt as its STAGE_STATISTICS variant with the same backbone weights and a fresh
    classifier, and that variant's name; ``model`` itself where there is none (or it is one already)."""
    wider = STAGE_STATISTICS.get(arch)
    if wider is None:
        return model, arch
    rebuilt = build_model(wider, len(LABELS), weights="none")
    _load_backbone(rebuilt, model.state_dict(), get_spec(wider).architecture.classifier, f"{arch}'s weights")
    return rebuilt.eval(), wider


def build_model(arch: str, num_classes: int = len(LABELS), weights: str = "default") -> nn.Module:
    """``weights``: "default" (the architecture's ImageNet weights, when it has any), "none", or the path
    of a state dict for the backbone."""
    spec = get_spec(arch)
    model = spec.architecture.create(num_classes)
    # PyTorch's own Linear init for the head: timm initialises it 13x wider (std 0.22 against 0.016 for
    # efficientnet_lite0), and the demo recipe then reached test macro-F1 0.87 instead of 0.99.
    head = model.get_submodule(spec.architecture.classifier.rstrip("."))
    if isinstance(head, nn.Linear):
        head.reset_parameters()
    if weights == "default" and spec.imagenet is not None:
        _load_backbone(model, spec.imagenet(), spec.architecture.classifier, f"{arch}'s ImageNet weights")
    elif weights not in ("default", "none"):
        state = torch.load(weights, map_location="cpu", weights_only=True)
        _load_backbone(model, state, spec.architecture.classifier, weights)
    return model
