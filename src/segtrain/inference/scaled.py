"""Inference at a planned input scale: resize the image, tile it, resize the logits back.

A run trained at scale ``s`` (:mod:`segtrain.planning.resolution`) predicts on images resized as
training resized them (bilinear with antialiasing, which matches the Pillow filter training used),
then resizes the *logits* bilinearly to the original size, so decisions and scores are made at
full resolution, where a resized label map would blur every boundary by a step.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from segtrain.data.rescale import input_size
from segtrain.inference.tiling import tiled_logits


def scaled_logits(model: torch.nn.Module, image: torch.Tensor, patch: int, overlap: float = 0.25,
                  scale=1.0) -> torch.Tensor:
    """Logits ``(B, K, H, W)`` of images ``(B, C, H, W)`` predicted at ``scale`` (a factor or ``"fit"``)."""
    height, width = image.shape[-2:]
    size = input_size(height, width, scale, patch)
    if size == (height, width):
        return tiled_logits(model, image, patch, overlap)
    small = F.interpolate(image.float(), size=size, mode="bilinear", antialias=True, align_corners=False)
    logits = tiled_logits(model, small, patch, overlap)
    return F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
