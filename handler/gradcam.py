"""Grad-CAM (Selvaraju et al., 2017): where the model looked for its top class."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def grad_cam(
    model: nn.Module, layer: nn.Module, image: torch.Tensor, grid: tuple[int, int]
) -> tuple[torch.Tensor, int]:
    """Heatmap in [0, 1] of shape ``grid`` (rows, cols) for the top class of one image (3, H, W)."""
    captured: dict[str, torch.Tensor] = {}

    def keep(_: nn.Module, __: object, output: torch.Tensor) -> None:
        output.retain_grad()
        captured["activations"] = output

    hook = layer.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            logits = model(image.unsqueeze(0).requires_grad_(True))
            top = int(logits.argmax(1))
            logits[0, top].backward()
    finally:
        hook.remove()
    activations = captured["activations"]
    assert activations.grad is not None
    weights = activations.grad.mean(dim=(2, 3), keepdim=True)  # global-average-pooled gradients
    cam = F.relu((weights * activations).sum(1, keepdim=True)).detach()
    cam = F.interpolate(cam, size=grid, mode="bilinear", align_corners=False)[0, 0]
    span = cam.max() - cam.min()
    return ((cam - cam.min()) / span if span > 0 else torch.zeros_like(cam)), top
