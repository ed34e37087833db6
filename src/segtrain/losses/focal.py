"""Focal loss (Lin, Goyal, Girshick, He, Dollar, "Focal loss for dense object detection", ICCV 2017)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from segtrain.losses.contract import clean_labels, compute_dtype, masked_mean, resolve_mode, valid_mask


def _safe_pow(x: torch.Tensor, gamma: float) -> torch.Tensor:
    """``x ** gamma`` for ``x >= 0`` whose gradient at ``x == 0`` is 0, never ``0 * inf``."""
    positive = x > 0
    return torch.where(positive, torch.where(positive, x, torch.ones_like(x)) ** gamma, torch.zeros_like(x))


def focal_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    gamma: float = 2.0,
    alpha: float | None = None,
    *,
    mode: str | None = None,
    ignore_index: int | None = None,
) -> torch.Tensor:
    r"""Focal loss :math:`-\alpha_t (1 - p_t)^\gamma \log p_t`, mean over the valid pixels (elements).

    Parameters
    ----------
    logits : Tensor, shape (B, C, H, W)
    labels : Tensor, shape (B, H, W), or (B, C, H, W) in multilabel mode
    gamma : float
        Focusing exponent; 0 gives (alpha-weighted) cross-entropy.
    alpha : float in [0, 1], optional
        Binary and multilabel: :math:`\alpha_t = \alpha` for positive elements and
        :math:`1 - \alpha` for negative ones (Lin et al.). Multiclass: weight :math:`1 - \alpha`
        for pixels of class 0 (background) and :math:`\alpha` for every other class (MONAI's
        softmax convention). ``None``: :math:`\alpha_t = 1`.
    mode : {"binary", "multiclass", "multilabel"}, optional
    ignore_index : int, optional

    Returns
    -------
    Tensor
        Scalar. Binary and multilabel, per element :math:`p_t = \sigma(z)` if :math:`y = 1` else
        :math:`1 - \sigma(z)`; :math:`-\log p_t` comes from ``binary_cross_entropy_with_logits`` and
        :math:`(1 - p_t)^\gamma = \exp(\gamma \log\sigma(-z (2y - 1)))`, both finite for any logit;
        the mean runs over the B*C*H*W valid elements. Multiclass, per pixel
        :math:`p_t = \mathrm{softmax}(z)_y` with :math:`-\log p_t` from ``cross_entropy``; the mean
        runs over the B*H*W valid pixels. With ``gamma = 0`` and no ``alpha`` it equals
        :func:`~segtrain.losses.ce.bce_with_logits` / :func:`~segtrain.losses.ce.cross_entropy`.
        0 with zero gradient when everything is ignored.

    Notes
    -----
    Relation to ``monai.losses.FocalLoss`` (tested): binary and multilabel equal
    ``FocalLoss(use_softmax=False, gamma, alpha)`` with the default mean reduction. Multiclass
    equals ``FocalLoss(use_softmax=True, to_onehot_y=True, gamma, alpha, reduction="none")``
    summed over the channel and averaged over the pixels -- C times MONAI's ``"mean"``, which
    also averages over the C channels of which only the true class is non-zero.
    """
    mode = resolve_mode(logits, labels, mode)
    logits = compute_dtype(logits)
    valid = valid_mask(labels, ignore_index)
    target = clean_labels(labels, valid)
    if mode == "multiclass":
        target = target.long()
        ce = F.cross_entropy(logits, target, reduction="none")  # -log p_t, (B, H, W)
        loss = ce if gamma == 0 else _safe_pow(-torch.expm1(-ce), gamma) * ce
        if alpha is not None:
            loss = loss * torch.where(target == 0, 1.0 - alpha, alpha).to(loss.dtype)
        return masked_mean(loss, valid)
    target = target.to(logits.dtype)
    if mode == "binary":
        target, valid = target.unsqueeze(1), valid.unsqueeze(1)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    loss = ce if gamma == 0 else torch.exp(gamma * F.logsigmoid(-logits * (2 * target - 1))) * ce
    if alpha is not None:
        loss = loss * (alpha * target + (1 - alpha) * (1 - target))
    return masked_mean(loss, valid)
