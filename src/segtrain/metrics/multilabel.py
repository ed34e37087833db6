"""Scores of multilabel outputs: each label is its own binary problem.

Counts come first: a torchmetrics ``MultilabelStatScores`` sums, per label, the true
positives, false positives, true negatives and false negatives over all pixels (summed across
DDP ranks too). Each label's IoU, Dice, precision and recall follow from its counts as in
:mod:`segtrain.metrics.collection`; the headline is the mean Dice over the labels whose Dice is
defined (a label absent from both truth and prediction is left out, never counted as 0 or 1).
"""

from __future__ import annotations

import math
from typing import Any

import torch


def multilabel_counts(num_labels: int, ignore_index: int | None = None):
    """A torchmetrics metric counting ``(tp, fp, tn, fn, support)`` per label over all pixels."""
    from torchmetrics.classification import MultilabelStatScores

    return MultilabelStatScores(num_labels=num_labels, average=None, multidim_average="global",
                                ignore_index=ignore_index, validate_args=False)


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def scores_from_label_counts(counts: torch.Tensor, names: list[str] | None = None) -> dict[str, Any]:
    """Per-label and mean scores from ``(L, 5)`` counts ``(tp, fp, tn, fn, support)``.

    Returns the keys of :func:`segtrain.metrics.collection.scores_from_confusion`: ``per_class`` has
    one entry per label; ``dice`` and ``iou`` are the means over labels; ``pixel_accuracy`` is the
    share of correct (pixel, label) decisions.
    """
    counts = counts.detach().to(torch.float64).cpu()
    per_class = []
    for k, (tp, fp, tn, fn, _) in enumerate(counts.tolist()):
        per_class.append({
            "class": k,
            "name": names[k] if names else f"label{k}",
            "iou": _ratio(tp, tp + fp + fn),
            "dice": _ratio(2 * tp, 2 * tp + fp + fn),
            "precision": _ratio(tp, tp + fp),
            "recall": _ratio(tp, tp + fn),
            "support": int(tp + fn),
        })
    total = float(counts[:, :4].sum())
    correct = float(counts[:, 0].sum() + counts[:, 2].sum())
    mean_dice = _mean([c["dice"] for c in per_class])
    mean_iou = _mean([c["iou"] for c in per_class])
    accuracy = _ratio(correct, total)
    return {
        "headline": {"name": "mean_dice", "value": mean_dice},
        "dice": mean_dice,
        "iou": mean_iou,
        "pixel_accuracy": None if accuracy is None or math.isnan(accuracy) else accuracy,
        "mean_iou": mean_iou,
        "mean_dice": mean_dice,
        "per_class": per_class,
        "n_pixels": int(counts[0, :4].sum()) if len(counts) else 0,
    }
