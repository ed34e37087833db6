r"""Overlap losses on soft predictions: Dice, Jaccard (IoU) and (focal) Tversky.

All three share one recipe, matching MONAI's ``DiceLoss`` / ``TverskyLoss`` with ``batch=True``:

1. probabilities ``p`` and targets ``t`` of shape ``(B, K, H, W)`` from
   :func:`~segtrain.losses.contract.region_inputs` -- binary: the single foreground channel
   (sigmoid); multiclass: the foreground classes ``1..C-1`` (softmax over all C, background left
   out as MONAI's ``include_background=False``); multilabel: every channel (sigmoid);
2. per channel ``k`` the soft counts pooled over the batch and the pixels (ignored pixels
   count in none): :math:`TP_k = \sum p t`, :math:`FP_k = \sum p (1-t)`, :math:`FN_k = \sum (1-p) t`;
3. a per-channel score with smoothing :math:`s = 10^{-5}` in numerator and denominator;
4. the loss: the mean over the K channels of ``1 - score`` (Tversky: of ``(1 - score) ** gamma``).

A channel absent from both truth and prediction (all counts 0) scores :math:`s/s = 1`, i.e.
contributes loss 0; a channel absent from the truth but predicted scores about 0 (loss about 1).
"""

from __future__ import annotations

import torch

from segtrain.losses.contract import region_inputs

SMOOTH = 1e-5
"""Added to numerator and denominator (MONAI's ``smooth_nr = smooth_dr = 1e-5``)."""


def soft_counts(
    logits: torch.Tensor, labels: torch.Tensor, mode: str | None = None, ignore_index: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Soft ``(TP, FP, FN)``, each of shape ``(K,)``, pooled over the batch and the valid pixels."""
    probs, target, valid, _ = region_inputs(logits, labels, mode, ignore_index)
    dims = (0, 2, 3)
    tp = (probs * target).sum(dims)
    fp = (probs * (valid - target)).sum(dims)
    fn = ((valid - probs) * target).sum(dims)
    return tp, fp, fn


def dice_loss(
    logits: torch.Tensor, labels: torch.Tensor, *, mode: str | None = None, ignore_index: int | None = None
) -> torch.Tensor:
    r"""Soft Dice loss :math:`1 - \frac{1}{K}\sum_k \frac{2 TP_k + s}{2 TP_k + FP_k + FN_k + s}`.

    The denominator equals :math:`\sum p + \sum t`. See the module docstring for the channels,
    the pooling and absent classes.

    Parameters
    ----------
    logits : Tensor, shape (B, C, H, W)
    labels : Tensor, shape (B, H, W), or (B, C, H, W) in multilabel mode
    mode : {"binary", "multiclass", "multilabel"}, optional
    ignore_index : int, optional

    Returns
    -------
    Tensor
        Scalar in [0, 1]; equal to MONAI's ``DiceLoss(sigmoid/softmax, to_onehot_y,
        include_background=False, batch=True)``.

    References
    ----------
    Milletari, Navab, Ahmadi, "V-Net", 3DV 2016.
    """
    tp, fp, fn = soft_counts(logits, labels, mode, ignore_index)
    return 1 - ((2 * tp + SMOOTH) / (2 * tp + fp + fn + SMOOTH)).mean()


def jaccard_loss(
    logits: torch.Tensor, labels: torch.Tensor, *, mode: str | None = None, ignore_index: int | None = None
) -> torch.Tensor:
    r"""Soft Jaccard (IoU) loss :math:`1 - \frac{1}{K}\sum_k \frac{2 TP_k + s}{2 (TP_k + FP_k + FN_k) + s}`.

    This is MONAI's ``DiceLoss(jaccard=True)`` formula exactly: the soft IoU
    :math:`TP / (TP + FP + FN)` with numerator and denominator doubled before the smoothing
    :math:`s = 10^{-5}` is added, i.e. :math:`(I + s/2) / (U + s/2)`. The union
    :math:`TP + FP + FN` equals :math:`\sum p + \sum t - \sum p t`.

    Parameters and return as :func:`dice_loss`.

    References
    ----------
    Rahman, Wang, "Optimizing intersection-over-union in deep neural networks for image
    segmentation", ISVC 2016.
    """
    tp, fp, fn = soft_counts(logits, labels, mode, ignore_index)
    return 1 - ((2 * tp + SMOOTH) / (2 * (tp + fp + fn) + SMOOTH)).mean()


def tversky_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    alpha: float = 0.3,
    beta: float = 0.7,
    gamma: float = 1.0,
    mode: str | None = None,
    ignore_index: int | None = None,
) -> torch.Tensor:
    r"""(Focal) Tversky loss :math:`\frac{1}{K}\sum_k (1 - TI_k)^\gamma`,
    :math:`TI_k = \frac{TP_k + s}{TP_k + \alpha FP_k + \beta FN_k + s}`.

    Parameters
    ----------
    logits, labels, mode, ignore_index
        As :func:`dice_loss`.
    alpha : float
        Weight of the false positives.
    beta : float
        Weight of the false negatives (``beta > alpha`` favours recall).
        ``alpha = beta = 0.5`` gives the Dice loss and ``alpha = beta = 1`` the soft Jaccard,
        except that the smoothing counts as ``s`` here, as ``s/2`` there.
    gamma : float
        Focal-Tversky exponent (Abraham & Khan use ``gamma = 0.75``); 1 is plain Tversky.

    Returns
    -------
    Tensor
        Scalar. With ``gamma = 1`` equal to MONAI's ``TverskyLoss(alpha, beta, batch=True,
        include_background=False, ...)``; otherwise equal to the mean over channels of MONAI's
        per-channel score (``reduction="none"``) raised to ``gamma``.

    References
    ----------
    Salehi, Erdogmus, Gholipour, "Tversky loss function for image segmentation using 3D fully
    convolutional deep networks", MLMI 2017. Abraham, Khan, "A novel focal Tversky loss function
    with improved attention U-Net for lesion segmentation", ISBI 2019.
    """
    tp, fp, fn = soft_counts(logits, labels, mode, ignore_index)
    score = 1 - (tp + SMOOTH) / (tp + alpha * fp + beta * fn + SMOOTH)
    if gamma != 1:
        # (1 - TI) is 0 for a channel with no pixel at all; keep its gradient 0, not 0 * inf
        positive = score > 0
        score = torch.where(positive, torch.where(positive, score, torch.ones_like(score)) ** gamma,
                            torch.zeros_like(score))
    return score.mean()
