"""Segmentation scores derived from one pooled confusion matrix.

Counting comes first, reduction second (as in segmentation_models_pytorch): a
``torchmetrics`` confusion matrix accumulates pixel counts (summed across DDP ranks),
and :func:`scores_from_confusion` turns the counts into per-class and pooled scores.

For class :math:`c` with true positives :math:`TP_c`, false positives :math:`FP_c` and
false negatives :math:`FN_c` over all pixels pooled:

- IoU :math:`= TP_c / (TP_c + FP_c + FN_c)`
- Dice :math:`= 2 TP_c / (2 TP_c + FP_c + FN_c)`
- precision :math:`= TP_c / (TP_c + FP_c)`, recall :math:`= TP_c / (TP_c + FN_c)`
- pixel accuracy :math:`= \\sum_c TP_c / N` over the ``N`` valid pixels.

A score whose denominator is 0 (the class is absent from both truth and prediction) is
undefined: it is reported as ``None`` and left out of every mean, never counted as 0 or 1.
"""

from __future__ import annotations

import math
from typing import Any

import torch


def confusion_metric(num_classes: int, ignore_index: int | None = None):
    """A torchmetrics confusion matrix over ``num_classes`` (rows: truth, columns: prediction)."""
    from torchmetrics.classification import MulticlassConfusionMatrix

    return MulticlassConfusionMatrix(num_classes=num_classes, ignore_index=ignore_index, validate_args=False)


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else None


def _clean(value: float) -> float | None:
    return None if math.isnan(value) else value


def scores_from_confusion(confusion: torch.Tensor | Any, class_names: list[str] | None = None) -> dict[str, Any]:
    """Per-class and pooled scores from a ``(C, C)`` confusion matrix (truth x prediction).

    Parameters
    ----------
    confusion
        ``(C, C)`` pixel counts, rows truth and columns prediction: a tensor or anything
        ``torch.as_tensor`` accepts (e.g. a numpy array).
    class_names
        Optional display names, one per class.

    Returns
    -------
    dict
        ``per_class``: a list of ``{"class", "name", "iou", "dice", "precision", "recall", "support"}``;
        ``pixel_accuracy``; ``mean_iou``, ``mean_dice``, ``mean_precision`` and ``mean_recall``
        over the classes where each is defined;
        ``dice`` and ``iou``: the foreground class's for two classes, the class means otherwise;
        ``headline``: ``{"name", "value"}``, foreground Dice for two classes, mean IoU otherwise.
    """
    cm = torch.as_tensor(confusion).detach().to(torch.float64).cpu()
    n = cm.shape[0]
    tp = cm.diag()
    fp = cm.sum(0) - tp
    fn = cm.sum(1) - tp
    per_class = []
    for c in range(n):
        t, p, f = float(tp[c]), float(fp[c]), float(fn[c])
        per_class.append(
            {
                "class": c,
                "name": class_names[c] if class_names else str(c),
                "iou": _ratio(t, t + p + f),
                "dice": _ratio(2 * t, 2 * t + p + f),
                "precision": _ratio(t, t + p),
                "recall": _ratio(t, t + f),
                "support": int(t + f),
            }
        )
    total = float(cm.sum())
    mean_iou = _mean([c["iou"] for c in per_class])
    mean_dice = _mean([c["dice"] for c in per_class])
    mean_precision = _mean([c["precision"] for c in per_class])
    mean_recall = _mean([c["recall"] for c in per_class])
    if n == 2:
        dice, iou = per_class[1]["dice"], per_class[1]["iou"]
    else:
        dice, iou = mean_dice, mean_iou
    for c in per_class:
        for key in ("iou", "dice", "precision", "recall"):
            c[key] = _clean(c[key])
    headline = {"name": "foreground_dice", "value": _clean(dice)} if n == 2 else {"name": "mean_iou", "value": mean_iou}
    return {
        "headline": headline,
        "dice": _clean(dice) if isinstance(dice, float) else dice,
        "iou": _clean(iou) if isinstance(iou, float) else iou,
        "pixel_accuracy": _clean(_ratio(float(tp.sum()), total)),
        "mean_iou": mean_iou,
        "mean_dice": mean_dice,
        "mean_precision": mean_precision,
        "mean_recall": mean_recall,
        "per_class": per_class,
        "n_pixels": int(total),
    }
