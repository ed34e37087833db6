"""The Noise2Void loss: mean squared error over the blind spots only.

``masked_mse(pred, target, mask) = sum(mask * (pred - target)^2) / (sum(mask) * C)`` with ``mask``
``(B, 1, H, W)`` broadcast over the ``C`` channels. Pixels outside the mask do not count at all:
there the network saw the true (noisy) value, and the loss would reward copying it.
"""

from __future__ import annotations

import torch


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error of ``pred`` against ``target`` ``(B, C, H, W)`` where ``mask`` is 1."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    weight = mask.to(pred.dtype).expand_as(pred)
    count = weight.sum()
    return ((pred.float() - target.float()) ** 2 * weight).sum() / count.clamp(min=1.0)
