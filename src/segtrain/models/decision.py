"""From logits to decisions: the output activation and the rule that turns it into labels.

Three modes, fixed by the data:

- ``binary`` (two classes): one output channel, ``p = sigmoid(z)``; a pixel is foreground
  when ``p > threshold`` (0.5 by default, i.e. ``z > 0``; optionally tuned on validation).
- ``multiclass`` (three or more classes): one channel per class, ``p = softmax(z)`` over the
  channels (the probabilities of a pixel sum to one); the class is the argmax.
- ``multilabel`` (one binary channel per label; a pixel may carry several labels): one
  channel per label, ``p = sigmoid(z)`` per channel, each label decided by the threshold.
"""

from __future__ import annotations

import math

import torch

MODES = ("binary", "multiclass", "multilabel")


def mode_of(num_classes: int, multilabel: bool = False) -> str:
    """``multilabel`` for multilabel masks, ``binary`` for two classes, else ``multiclass``."""
    if multilabel:
        return "multilabel"
    return "binary" if num_classes == 2 else "multiclass"


def output_channels(num_classes: int, mode: str) -> int:
    """Channels the network outputs: 1 in binary mode, else one per class or label."""
    return 1 if mode == "binary" else num_classes


def _logit(threshold: float) -> float:
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold {threshold} must lie strictly between 0 and 1")
    return math.log(threshold / (1.0 - threshold))


def decide(logits: torch.Tensor, mode: str | None = None, threshold: float = 0.5) -> torch.Tensor:
    """Labels from logits ``(B, K, H, W)``.

    Returns class indices ``(B, H, W)`` (int64) in binary and multiclass mode, and 0/1 labels
    ``(B, K, H, W)`` (int64) in multilabel mode. The sigmoid threshold is applied on the logit
    scale (``z > log(t / (1 - t))``), which is exact and needs no sigmoid.
    """
    mode = mode or ("binary" if logits.shape[1] == 1 else "multiclass")
    if mode == "binary":
        return (logits[:, 0] > _logit(threshold)).long()
    if mode == "multilabel":
        return (logits > _logit(threshold)).long()
    return logits.argmax(dim=1)


def probabilities(logits: torch.Tensor, mode: str | None = None) -> torch.Tensor:
    """Probabilities ``(B, K, H, W)``: binary gives ``K = 2`` (background, foreground) summing to one,
    multiclass the softmax (summing to one per pixel), multilabel one sigmoid per label."""
    mode = mode or ("binary" if logits.shape[1] == 1 else "multiclass")
    logits = logits.float()
    if mode == "binary":
        p = torch.sigmoid(logits)
        return torch.cat([1 - p, p], dim=1)
    if mode == "multilabel":
        return torch.sigmoid(logits)
    return torch.softmax(logits, dim=1)
