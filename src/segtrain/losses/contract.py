"""The one tensor contract shared by every loss: modes, dtypes, ignored pixels, targets.

Every loss takes raw ``logits`` of shape ``(B, C, H, W)`` and ``labels`` in one of three modes:

============  ========  ===========================  =====================================
mode          C         labels                       activation
============  ========  ===========================  =====================================
binary        1         ``(B, H, W)`` in {0, 1}      sigmoid of the single channel
multiclass    >= 2      ``(B, H, W)`` in 0..C-1      softmax over the channels
multilabel    any       ``(B, C, H, W)`` in {0, 1}   sigmoid per channel
============  ========  ===========================  =====================================

Pixels whose label equals ``ignore_index`` (in multilabel mode: channel elements) count in no
sum and no mean. Half and bfloat16 logits are computed in float32; float32 and float64 stay as
they are (float64 keeps :func:`torch.autograd.gradcheck` usable).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch.nn import functional as F

MODES = ("binary", "multiclass", "multilabel")


def infer_mode(logits: torch.Tensor, labels: torch.Tensor) -> str:
    """``multilabel`` when labels are 4-D, ``binary`` when ``C == 1``, else ``multiclass``."""
    if labels.dim() == 4:
        return "multilabel"
    return "binary" if logits.shape[1] == 1 else "multiclass"


def resolve_mode(logits: torch.Tensor, labels: torch.Tensor, mode: str | None) -> str:
    """The mode to use (inferred when ``None``), checked against the shapes.

    Raises
    ------
    ValueError
        If the mode is unknown or the shapes do not fit it.
    """
    if logits.dim() != 4:
        raise ValueError(f"logits must have shape (B, C, H, W), got {tuple(logits.shape)}")
    mode = infer_mode(logits, labels) if mode is None else mode
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    b, c, h, w = logits.shape
    if mode == "multilabel":
        if tuple(labels.shape) != (b, c, h, w):
            raise ValueError(f"multilabel labels must have the logits' shape {(b, c, h, w)}, got {tuple(labels.shape)}")
        return mode
    if tuple(labels.shape) != (b, h, w):
        raise ValueError(f"{mode} labels must have shape {(b, h, w)}, got {tuple(labels.shape)}")
    if mode == "binary" and c != 1:
        raise ValueError(f"binary mode needs 1 logit channel, got {c}")
    if mode == "multiclass" and c < 2:
        raise ValueError(f"multiclass mode needs at least 2 logit channels, got {c}")
    return mode


def compute_dtype(logits: torch.Tensor) -> torch.Tensor:
    """``logits`` in the dtype the losses compute in: float32 for half types, else unchanged."""
    if logits.dtype in (torch.float16, torch.bfloat16) or not logits.is_floating_point():
        return logits.float()
    return logits


def valid_mask(labels: torch.Tensor, ignore_index: int | None) -> torch.Tensor:
    """Boolean mask of the labels that count (same shape as ``labels``)."""
    if ignore_index is None:
        return torch.ones_like(labels, dtype=torch.bool)
    return labels != ignore_index


def clean_labels(labels: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``labels`` with ignored entries replaced by 0, so they index and one-hot safely."""
    return torch.where(valid, labels, torch.zeros_like(labels))


def masked_mean(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over the ``True`` entries of ``valid`` (broadcast); 0 when there are none.

    The division uses ``max(count, 1)``, so an all-ignored batch gives 0 with a zero gradient
    and no host synchronisation.
    """
    valid = valid.to(values.dtype).expand_as(values)
    return (values * valid).sum() / valid.sum().clamp_min(1)


class RegionInputs(NamedTuple):
    """Probabilities, targets and validity for the region losses (Dice, Jaccard, Tversky, boundary).

    ``probs`` and ``target`` are ``(B, K, H, W)`` in the compute dtype, already multiplied by
    ``valid`` (``(B, 1, H, W)`` or ``(B, K, H, W)``, same dtype), so ignored pixels are 0 in both.
    """

    probs: torch.Tensor
    target: torch.Tensor
    valid: torch.Tensor
    mode: str


def sigmoid_inputs(
    logits: torch.Tensor, labels: torch.Tensor, mode: str, ignore_index: int | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits in the compute dtype, 0/1 targets and the validity mask, all ``(B, C, H, W)``, for a
    binary or multilabel loss (binary labels ``(B, H, W)`` get their channel axis)."""
    logits = compute_dtype(logits)
    valid = valid_mask(labels, ignore_index)
    target = clean_labels(labels, valid).to(logits.dtype)
    if mode == "binary":
        target, valid = target.unsqueeze(1), valid.unsqueeze(1)
    return logits, target, valid


def one_hot(labels: torch.Tensor, num_classes: int, dtype: torch.dtype) -> torch.Tensor:
    """``(B, H, W)`` class indices to a ``(B, num_classes, H, W)`` one-hot tensor of ``dtype``."""
    return F.one_hot(labels.long(), num_classes).permute(0, 3, 1, 2).to(dtype)


def region_inputs(
    logits: torch.Tensor,
    labels: torch.Tensor,
    mode: str | None = None,
    ignore_index: int | None = None,
    include_background: bool = False,
) -> RegionInputs:
    """Activate the logits and build matching targets on the chosen channels.

    Parameters
    ----------
    logits : Tensor, shape (B, C, H, W)
    labels : Tensor, shape (B, H, W) or (B, C, H, W) (multilabel)
    mode : {"binary", "multiclass", "multilabel"}, optional
        Inferred with :func:`infer_mode` when ``None``.
    ignore_index : int, optional
    include_background : bool
        Multiclass only: keep class 0. When False (the default, as MONAI's
        ``include_background=False``) the channels are the foreground classes ``1..C-1``.
        Binary mode always gives the single foreground channel, multilabel every channel.

    Returns
    -------
    RegionInputs
    """
    mode = resolve_mode(logits, labels, mode)
    logits = compute_dtype(logits)
    valid_bool = valid_mask(labels, ignore_index)
    labels = clean_labels(labels, valid_bool)
    if mode == "multiclass":
        probs = torch.softmax(logits, dim=1)
        target = one_hot(labels, logits.shape[1], logits.dtype)
        valid = valid_bool.unsqueeze(1).to(logits.dtype)
        if not include_background:
            probs, target = probs[:, 1:], target[:, 1:]
    else:
        probs = torch.sigmoid(logits)
        target = labels.to(logits.dtype)
        valid = valid_bool.to(logits.dtype)
        if mode == "binary":
            target, valid = target.unsqueeze(1), valid.unsqueeze(1)
    return RegionInputs(probs * valid, target * valid, valid, mode)
