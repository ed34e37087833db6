"""Counting pixels first, reducing second: confusion counts and the three named reductions.

Every score starts from a ``(C, C)`` confusion matrix of pixel counts (rows truth, columns
prediction; ignored pixels are not counted). For class :math:`c` with :math:`TP_c`,
:math:`FP_c`, :math:`FN_c`:

- IoU :math:`= TP_c / (TP_c + FP_c + FN_c)`, Dice :math:`= 2 TP_c / (2 TP_c + FP_c + FN_c)`,
- precision :math:`= TP_c / (TP_c + FP_c)`, recall :math:`= TP_c / (TP_c + FN_c)`.

Three reductions turn the counts into summary numbers:

- **pooled**: one confusion matrix summed over all images, then the per-class scores above;
- **mean over classes**: the unweighted mean of the pooled per-class scores over the classes
  where each is defined;
- **mean over images**: each image's per-class scores from its own confusion matrix; per class,
  the mean over the images where that class's score is defined; then the mean of those
  per-class means over the classes where it is defined.

Absent-class policy (per image, and likewise for the pooled counts)
-------------------------------------------------------------------
A score whose denominator is 0 is undefined (``NaN`` here, ``None`` in reports) and is
*skipped* from every mean, never counted as 0 or 1. Hence:

- a class absent from both prediction and truth in an image has undefined IoU, Dice,
  precision and recall there, and that image does not enter the class's mean over images;
- a class absent from the truth but predicted scores IoU = Dice = 0 and precision = 0 in that
  image (its recall is undefined and skipped);
- a class present in the truth but never predicted scores IoU = Dice = recall = 0 (its
  precision is undefined and skipped).

This is the behaviour of ``torchmetrics.segmentation.MeanIoU(per_class=True)`` and of
``torchmetrics.segmentation.DiceScore(average="none", aggregation_level="samplewise")``.
"""

from __future__ import annotations

import numpy as np

SCORE_NAMES = ("iou", "dice", "precision", "recall")
"""The per-class scores every reduction reports."""


def confusion_counts(
    prediction: np.ndarray, truth: np.ndarray, num_classes: int, ignore_index: int | None = None
) -> np.ndarray:
    """Pixel counts of one image (or any stack of pixels) as a ``(C, C)`` confusion matrix.

    Parameters
    ----------
    prediction, truth
        Integer class maps of the same shape; ``truth`` may hold ``ignore_index``.
    num_classes
        ``C``; every other value (besides ``ignore_index`` in the truth) raises.
    ignore_index
        Truth value whose pixels are not counted.

    Returns
    -------
    numpy.ndarray
        ``int64`` ``(C, C)``, ``[t, p]`` = number of pixels of true class ``t`` predicted ``p``.

    Raises
    ------
    ValueError
        On a shape mismatch or a class value outside ``[0, C)``.
    """
    prediction = np.asarray(prediction)
    truth = np.asarray(truth)
    if prediction.shape != truth.shape:
        raise ValueError(f"prediction {prediction.shape} and truth {truth.shape} differ in shape")
    valid = truth != ignore_index if ignore_index is not None else np.ones(truth.shape, dtype=bool)
    t = truth[valid].astype(np.int64).ravel()
    p = prediction[valid].astype(np.int64).ravel()
    for name, values in (("truth", t), ("prediction", p)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"{name} holds a class outside [0, {num_classes}): {values.min()}..{values.max()}")
    return np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def class_scores(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class IoU, Dice, precision and recall of one confusion matrix.

    Returns
    -------
    dict
        ``{"iou", "dice", "precision", "recall"}``, each a float ``(C,)`` array with ``NaN``
        where the score is undefined (denominator 0), see the module's absent-class policy.
    """
    cm = np.asarray(confusion, dtype=np.float64)
    tp = np.diag(cm)
    fp = cm.sum(0) - tp
    fn = cm.sum(1) - tp
    return {
        "iou": _divide(tp, tp + fp + fn),
        "dice": _divide(2 * tp, 2 * tp + fp + fn),
        "precision": _divide(tp, tp + fp),
        "recall": _divide(tp, tp + fn),
    }


def nan_mean(values: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """Mean over the defined (non-``NaN``) values; ``NaN`` where none is defined (no warning)."""
    values = np.asarray(values, dtype=np.float64)
    defined = ~np.isnan(values)
    count = defined.sum(axis=axis)
    total = np.where(defined, values, 0.0).sum(axis=axis)
    return _divide(np.asarray(total, dtype=np.float64), np.asarray(count, dtype=np.float64))[()]


def mean_over_classes(scores: dict[str, np.ndarray]) -> dict[str, float]:
    """The unweighted mean over classes of each per-class score, skipping undefined classes."""
    return {name: float(nan_mean(scores[name])) for name in SCORE_NAMES}


def mean_over_images(per_image: list[dict[str, np.ndarray]], num_classes: int) -> dict[str, object]:
    """Per class the mean over images where defined, then the mean of those over classes.

    Parameters
    ----------
    per_image
        One :func:`class_scores` result per image.
    num_classes
        ``C``, used when ``per_image`` is empty.

    Returns
    -------
    dict
        ``{"iou", "dice", "precision", "recall"}``: floats (``NaN`` if undefined everywhere);
        ``"per_class"``: ``{score: (C,) array}`` of the per-class means over images;
        ``"n_images"``: ``{score: (C,) int array}``, the images where each class's score is defined.
    """
    out: dict[str, object] = {}
    per_class: dict[str, np.ndarray] = {}
    n_images: dict[str, np.ndarray] = {}
    for name in SCORE_NAMES:
        stack = np.array([s[name] for s in per_image], dtype=np.float64).reshape(len(per_image), num_classes)
        per_class[name] = nan_mean(stack, axis=0)
        n_images[name] = (~np.isnan(stack)).sum(axis=0)
        out[name] = float(nan_mean(per_class[name]))
    out["per_class"] = per_class
    out["n_images"] = n_images
    return out
