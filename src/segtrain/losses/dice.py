"""Soft Dice loss on logits."""

from __future__ import annotations

import torch
from torch.nn import functional as F

SMOOTH = 1e-5
"""Added to numerator and denominator: a class absent from both prediction and truth gives loss 0."""


def soft_dice_loss(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int | None = None) -> torch.Tensor:
    """``1 - mean_c (2 sum p_c t_c + s) / (sum p_c + sum t_c + s)`` over the foreground classes.

    Parameters
    ----------
    logits : Tensor, shape (B, C, H, W)
        C == 1: binary (sigmoid, the class is 1); C > 1: softmax over C classes, averaged over
        classes 1..C-1 (the background, class 0, is left out: it would dominate the mean).
    labels : Tensor, shape (B, H, W), integer
    ignore_index : int, optional
        Pixels with this label count in neither sum.

    Returns
    -------
    Tensor
        Scalar; the sums run over the whole batch (pooled), ``s = 1e-5``.
    """
    logits = logits.float()
    valid = torch.ones_like(labels, dtype=torch.bool) if ignore_index is None else labels != ignore_index
    target = torch.where(valid, labels, torch.zeros_like(labels)).long()
    if logits.shape[1] == 1:
        probs = torch.sigmoid(logits[:, 0]).unsqueeze(1)
        onehot = (target == 1).unsqueeze(1).float()
    else:
        probs = torch.softmax(logits, dim=1)[:, 1:]
        onehot = F.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2)[:, 1:].float()
    weight = valid.unsqueeze(1).float()
    probs, onehot = probs * weight, onehot * weight
    dims = (0, 2, 3)
    intersection = (probs * onehot).sum(dims)
    dice = (2 * intersection + SMOOTH) / (probs.sum(dims) + onehot.sum(dims) + SMOOTH)
    return 1 - dice.mean()
