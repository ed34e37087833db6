"""Cross-entropy on logits: binary (per element, sigmoid) and multiclass (per pixel, softmax)."""

from __future__ import annotations

from typing import Sequence

import torch
from torch.nn import functional as F

from segtrain.losses.contract import clean_labels, compute_dtype, masked_mean, resolve_mode, sigmoid_inputs, valid_mask


def bce_with_logits(
    logits: torch.Tensor,
    labels: torch.Tensor,
    pos_weight: float | Sequence[float] | torch.Tensor | None = None,
    ignore_index: int | None = None,
    mode: str | None = None,
) -> torch.Tensor:
    r"""Binary cross-entropy on logits, mean over the valid elements.

    Parameters
    ----------
    logits : Tensor, shape (B, 1, H, W) (binary) or (B, C, H, W) (multilabel)
    labels : Tensor, shape (B, H, W) (binary) or (B, C, H, W) (multilabel), values in {0, 1}
    pos_weight : float or sequence of C floats, optional
        Weight :math:`w_+` of the positive term (one per channel in multilabel mode),
        as :func:`torch.nn.functional.binary_cross_entropy_with_logits`.
    ignore_index : int, optional
        Elements whose label equals it count neither in the sum nor in the count.
    mode : {"binary", "multilabel"}, optional
        Inferred when ``None``.

    Returns
    -------
    Tensor
        Scalar :math:`\frac{1}{|V|}\sum_{i \in V} \ell_i` over the valid elements :math:`V`, with

        .. math:: \ell = -[w_+ y \log\sigma(z) + (1-y)\log(1-\sigma(z))]
                  = (1-y) z + (1 + (w_+ - 1) y)\,\mathrm{softplus}(-z),

        which torch evaluates without forming :math:`\sigma(z)`, so it stays exact and finite
        for any logit (at :math:`z = 100, y = 0` it is :math:`100 + \log(1+e^{-100})`, where
        ``binary_cross_entropy(sigmoid(z), y)`` in float32 only reaches torch's clamp of 100).
        0 with a zero gradient when every element is ignored.

    Raises
    ------
    ValueError
        In multiclass mode (use :func:`cross_entropy`).
    """
    mode = resolve_mode(logits, labels, mode)
    if mode == "multiclass":
        raise ValueError("bce_with_logits needs binary or multilabel mode; use cross_entropy for multiclass")
    logits, target, valid = sigmoid_inputs(logits, labels, mode, ignore_index)
    if pos_weight is not None:
        pos_weight = torch.as_tensor(pos_weight, dtype=logits.dtype, device=logits.device)
        if pos_weight.dim() == 1:
            pos_weight = pos_weight.view(1, -1, 1, 1)
    per_element = F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight, reduction="none")
    return masked_mean(per_element, valid)


def cross_entropy(
    logits: torch.Tensor,
    labels: torch.Tensor,
    weight: Sequence[float] | torch.Tensor | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    mode: str | None = None,
) -> torch.Tensor:
    r"""Softmax cross-entropy over C classes, torch's weighted mean over the valid pixels.

    Parameters
    ----------
    logits : Tensor, shape (B, C, H, W), C >= 2
    labels : Tensor, shape (B, H, W), integer in 0..C-1
    weight : sequence of C floats, optional
        Class weights :math:`w_c`.
    ignore_index : int, optional
    label_smoothing : float
        :math:`\varepsilon`: the target is :math:`(1-\varepsilon)` on the true class plus
        :math:`\varepsilon / C` on every class.
    mode : {"multiclass"}, optional

    Returns
    -------
    Tensor
        Scalar equal to ``F.cross_entropy(logits, labels, weight, ignore_index=ignore_index,
        label_smoothing=label_smoothing)``: with :math:`\ell_i = -(1-\varepsilon) w_{y_i}\log p_{i,y_i}
        - \frac{\varepsilon}{C}\sum_c w_c \log p_{i,c}`, the loss is
        :math:`\sum_{i \in V} \ell_i / \sum_{i \in V} w_{y_i}` -- the weighted mean divides by the
        sum of the weights of the valid pixels' true classes, not by their number (without
        weights that is the plain mean). Unlike torch it returns 0 with a zero gradient, not
        NaN, when every pixel is ignored (or all valid pixels have weight 0).
    """
    mode = resolve_mode(logits, labels, mode)
    if mode != "multiclass":
        raise ValueError(f"cross_entropy needs multiclass mode, got {mode}; use bce_with_logits")
    logits = compute_dtype(logits)
    valid = valid_mask(labels, ignore_index)
    target = clean_labels(labels, valid).long()
    if weight is not None:
        weight = torch.as_tensor(weight, dtype=logits.dtype, device=logits.device)
        if weight.shape != (logits.shape[1],):
            raise ValueError(f"cross_entropy got {weight.numel()} class weights for {logits.shape[1]} classes")
    ignore = -100 if ignore_index is None else ignore_index
    per_pixel = F.cross_entropy(logits, labels.long(), weight=weight, ignore_index=ignore,
                                label_smoothing=label_smoothing, reduction="none")
    if weight is None:
        return masked_mean(per_pixel, valid)
    denominator = (weight[target] * valid).sum()
    return per_pixel.sum() / torch.where(denominator > 0, denominator, torch.ones_like(denominator))


def segmentation_loss(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int | None = None) -> torch.Tensor:
    """The default loss for an inferred mode: :func:`bce_with_logits` (binary, multilabel) or
    :func:`cross_entropy` (multiclass), unweighted, mean over the valid pixels (elements)."""
    if resolve_mode(logits, labels, None) == "multiclass":
        return cross_entropy(logits, labels, ignore_index=ignore_index)
    return bce_with_logits(logits, labels, ignore_index=ignore_index)
