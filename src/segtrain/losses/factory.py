"""Losses behind one contract.

Every loss takes logits ``(B, C, H, W)`` and integer labels ``(B, H, W)``. ``C == 1`` means
binary (sigmoid) mode, ``C > 1`` multiclass (softmax) mode. Pixels whose label equals
``ignore_index`` contribute nothing.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def segmentation_loss(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int | None = None) -> torch.Tensor:
    """Binary cross-entropy with logits (C == 1) or cross-entropy (C > 1), mean over valid pixels.

    Parameters
    ----------
    logits : Tensor, shape (B, C, H, W)
        Raw network outputs (no sigmoid or softmax applied).
    labels : Tensor, shape (B, H, W), integer
        Class indices; 0/1 in binary mode.
    ignore_index : int, optional
        Label value excluded from the mean.

    Returns
    -------
    Tensor
        Scalar loss. In binary mode, with :math:`z` the logit and :math:`y` the label,
        :math:`\\ell = \\max(z, 0) - z y + \\log(1 + e^{-|z|})`, which equals
        :math:`-[y \\log \\sigma(z) + (1-y) \\log(1-\\sigma(z))]` but stays finite for any ``z``.
        If every pixel is ignored the loss is 0 (with a gradient of 0), never NaN.
    """
    logits = logits.float()
    if logits.shape[1] == 1:
        target = labels.to(logits.dtype)
        per_pixel = F.binary_cross_entropy_with_logits(logits[:, 0], target.clamp(0, 1), reduction="none")
        if ignore_index is None:
            return per_pixel.mean()
        valid = labels != ignore_index
        return (per_pixel * valid).sum() / valid.sum().clamp_min(1)
    if ignore_index is None:
        return F.cross_entropy(logits, labels.long())
    valid = labels != ignore_index
    if not bool(valid.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits, labels.long(), ignore_index=ignore_index)


LOSSES = ("ce", "dice", "ce+dice")


def build_loss(name: str, ignore_index: int | None = None):
    """``loss(logits, labels)`` for ``ce``, ``dice`` or ``ce+dice`` (the unweighted sum)."""
    from segtrain.losses.dice import soft_dice_loss

    if name == "ce":
        return lambda logits, labels: segmentation_loss(logits, labels, ignore_index)
    if name == "dice":
        return lambda logits, labels: soft_dice_loss(logits, labels, ignore_index)
    if name == "ce+dice":
        return lambda logits, labels: (
            segmentation_loss(logits, labels, ignore_index) + soft_dice_loss(logits, labels, ignore_index)
        )
    raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
