"""Masks drawn over their images: training samples, and test predictions with their errors.

A test prediction is drawn as three panels, ``image | truth | prediction``; in the third
the errors are coloured over the predicted classes:

- **false positive** (:data:`FALSE_POSITIVE`, magenta): foreground predicted where the truth
  is background (class 0; for multilabel masks: a label predicted that the truth lacks);
- **false negative** (:data:`FALSE_NEGATIVE`, cyan): truth foreground predicted as background
  (multilabel: a true label the prediction lacks);
- **wrong class** (:data:`WRONG_CLASS`, yellow): one foreground class predicted as another.

Pixels the truth marks ``ignore_index`` are never errors. Predictions come from
:class:`~segtrain.inference.predictor.Predictor` (the same tiled inference and decision as
``evaluate``), truths from :func:`~segtrain.data.labels.read_labels`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from segtrain.reporting._figure import new_figure, save

FALSE_POSITIVE = (1.0, 0.0, 1.0)
"""Magenta: predicted foreground where the truth is background."""
FALSE_NEGATIVE = (0.0, 0.9, 1.0)
"""Cyan: true foreground predicted as background."""
WRONG_CLASS = (1.0, 0.85, 0.0)
"""Yellow: a foreground class predicted as another one."""

CLASS_COLOURS = (
    (1.0, 0.5, 0.05), (0.17, 0.63, 0.17), (0.12, 0.47, 0.71), (0.84, 0.15, 0.16), (0.58, 0.4, 0.74),
    (0.55, 0.34, 0.29), (0.5, 0.5, 0.5), (0.74, 0.74, 0.13), (0.4, 0.2, 0.0), (0.0, 0.3, 0.3),
)
"""Colours of classes 1, 2, ... (repeating); class 0, the background, is left uncoloured. None of
them is an error colour."""

CLASS_ALPHA = 0.45
"""Opacity of the class colours over the image; errors are drawn at :data:`ERROR_ALPHA`."""
ERROR_ALPHA = 0.9

NO_ERROR, FP, FN, WRONG = 0, 1, 2, 3
"""Codes of :func:`error_map`."""


@dataclass(frozen=True)
class Example:
    """One image with its truth and (for test images) prediction.

    ``truth`` and ``prediction`` are ``(H, W)`` class indices, or ``(L, H, W)`` 0/1 labels for
    multilabel runs; ``dice`` is the image's score from ``evaluation.json``.
    """

    stem: str
    image: np.ndarray
    truth: np.ndarray
    prediction: np.ndarray | None = None
    dice: float | None = None


def class_map(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """``(H, W)`` class indices to colour: ``labels`` as they are, a multilabel ``(L, H, W)`` stack
    as the last present label + 1; values outside ``[0, num_classes)`` (ignored pixels) become 0."""
    labels = np.asarray(labels)
    if labels.ndim == 3:
        out = np.zeros(labels.shape[1:], dtype=np.int64)
        for k in range(labels.shape[0]):
            out[labels[k] > 0] = k + 1
        return out
    return np.where((labels >= 0) & (labels < num_classes), labels, 0).astype(np.int64)


def error_map(truth: np.ndarray, prediction: np.ndarray, ignore_index: int | None = None) -> np.ndarray:
    """``(H, W)`` error codes: :data:`NO_ERROR`, :data:`FP`, :data:`FN` or :data:`WRONG` (see the module).

    ``truth`` and ``prediction`` are ``(H, W)`` class maps (class 0 the background) or
    ``(L, H, W)`` 0/1 label stacks; for stacks a pixel with a missing label counts as ``FN``
    even if another label is also extra.
    """
    truth, prediction = np.asarray(truth), np.asarray(prediction)
    if truth.ndim == 3:
        extra = ((prediction > 0) & (truth == 0)).any(axis=0)
        missed = ((truth > 0) & (prediction == 0)).any(axis=0)
        return np.where(missed, FN, np.where(extra, FP, NO_ERROR)).astype(np.uint8)
    codes = np.full(truth.shape, NO_ERROR, dtype=np.uint8)
    wrong = truth != prediction
    if ignore_index is not None:
        wrong &= truth != ignore_index
    codes[wrong & (truth == 0)] = FP
    codes[wrong & (prediction == 0)] = FN
    codes[wrong & (truth != 0) & (prediction != 0)] = WRONG
    return codes


def display_image(image: np.ndarray) -> np.ndarray:
    """An ``(H, W, C)`` image as ``(H, W, 3)`` floats in [0, 1]: 8-bit divided by 255, anything
    else stretched between its 1st and 99th percentiles."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.dtype == np.uint8:
        out = image.astype(np.float64) / 255.0
    else:
        values = image.astype(np.float64)
        low, high = np.percentile(values, [1, 99]) if values.size else (0.0, 1.0)
        out = np.clip((values - low) / (high - low), 0, 1) if high > low else np.zeros_like(values)
    if out.shape[-1] == 1:
        out = np.repeat(out, 3, axis=-1)
    return out[..., :3]


def blend(image: np.ndarray, classes: np.ndarray, errors: np.ndarray | None = None) -> np.ndarray:
    """``(H, W, 3)`` display image with classes 1.. coloured and (optionally) error codes on top."""
    out = display_image(image).copy()
    for k in np.unique(classes):
        if k > 0:
            colour = np.array(CLASS_COLOURS[(int(k) - 1) % len(CLASS_COLOURS)])
            where = classes == k
            out[where] = (1 - CLASS_ALPHA) * out[where] + CLASS_ALPHA * colour
    if errors is not None:
        for code, colour in ((FP, FALSE_POSITIVE), (FN, FALSE_NEGATIVE), (WRONG, WRONG_CLASS)):
            where = errors == code
            out[where] = (1 - ERROR_ALPHA) * out[where] + ERROR_ALPHA * np.array(colour)
    return out


def _legend(fig, class_names: Sequence[str], errors: bool) -> None:
    from matplotlib.patches import Patch

    labels = [f"class {name}" if str(name).isdigit() else str(name) for name in class_names]
    handles = [Patch(color=CLASS_COLOURS[(k - 1) % len(CLASS_COLOURS)], label=labels[k])
               for k in range(1, len(class_names))]
    if errors:
        handles += [Patch(color=FALSE_POSITIVE, label="false positive"),
                    Patch(color=FALSE_NEGATIVE, label="false negative")]
        if len(class_names) > 2:
            handles.append(Patch(color=WRONG_CLASS, label="wrong class"))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4), fontsize=8)


def plot_prediction_overlays(examples: Sequence[Example], out: Path | str, class_names: Sequence[str],
                             title: str = "", ignore_index: int | None = None) -> Path | None:
    """One row per example: ``image | truth overlay | prediction overlay with errors``.

    ``class_names`` names class 0 (background) first; for multilabel runs pass
    ``["none", label_1, ...]``. ``None`` when no example has a prediction.
    """
    examples = [e for e in examples if e.prediction is not None]
    if not examples:
        return None
    n = len(class_names)
    fig, axes = new_figure(9, 3.0 * len(examples) + 0.8, len(examples), 3)
    for row, example in zip(axes, examples):
        truth, prediction = class_map(example.truth, n), class_map(example.prediction, n)
        errors = error_map(example.truth, example.prediction, ignore_index)
        score = f", Dice {example.dice:.3f}" if example.dice is not None else ""
        panels = ((display_image(example.image), example.stem),
                  (blend(example.image, truth), "truth"),
                  (blend(example.image, prediction, errors), f"prediction{score}"))
        for ax, (picture, label) in zip(row, panels):
            ax.imshow(picture, interpolation="nearest")
            ax.set_title(label, fontsize=9)
            ax.set_axis_off()
    if title:
        fig.suptitle(title)
    _legend(fig, class_names, errors=True)
    return save(fig, out)


def plot_sample_overlays(examples: Sequence[Example], out: Path | str, class_names: Sequence[str]) -> Path | None:
    """Training samples in columns: the image above, its mask overlaid below; ``None`` without samples."""
    if not examples:
        return None
    fig, axes = new_figure(2.3 * len(examples) + 0.4, 5.2, 2, len(examples))
    for k, example in enumerate(examples):
        axes[0, k].imshow(display_image(example.image), interpolation="nearest")
        axes[0, k].set_title(example.stem, fontsize=9)
        axes[1, k].imshow(blend(example.image, class_map(example.truth, len(class_names))), interpolation="nearest")
        for ax in axes[:, k]:
            ax.set_axis_off()
    _legend(fig, class_names, errors=False)
    return save(fig, out)


def best_and_worst(dice: Sequence[tuple[str, float]], k: int = 2) -> tuple[list[str], list[str]]:
    """Stems of the highest Dice (best first) and of the lowest (worst first), at most ``k`` each, disjoint.

    With fewer than ``2 k`` images the best take half of them (rounded up) and the worst the
    rest; ties keep the order of ``dice``.
    """
    n_best = min(k, (len(dice) + 1) // 2)
    n_worst = min(k, len(dice) - n_best)
    best = sorted(range(len(dice)), key=lambda i: (-dice[i][1], i))[:n_best]
    worst = [i for i in sorted(range(len(dice)), key=lambda i: (dice[i][1], i)) if i not in best][:n_worst]
    return [dice[i][0] for i in best], [dice[i][0] for i in worst]
