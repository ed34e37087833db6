"""Post-processing of a class map: steps that clean a prediction, each for one class.

A step is written ``OP@CLASS`` or ``OP:PARAM@CLASS`` (``CLASS`` a class index, never 0, the
background):

- ``fill_holes@k``: regions of other classes that class ``k`` encloses become ``k``
  (:func:`scipy.ndimage.binary_fill_holes`);
- ``largest_component@k``: only the largest 8-connected region of class ``k`` is kept;
- ``remove_small:F@k``: regions of class ``k`` smaller than a share ``F`` of the image's pixels
  are removed (a share, not pixels, so the rule holds at any image size).

A removed pixel takes the class of the nearest pixel that was not removed (for two classes
that is the background), so a step never invents a class. Which steps a run uses is decided on
its validation images, after training (:mod:`segtrain.evaluation.refine`); a step is kept only
where it raised the validation score.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from segtrain.config.postprocess_spec import parse_step

_EIGHT = np.ones((3, 3), dtype=bool)


def apply_steps(classes: np.ndarray, steps: list[str] | tuple[str, ...]) -> np.ndarray:
    """``classes`` ``(H, W)`` (class indices) after ``steps``, in order; a new array when any step runs."""
    for step in steps:
        classes = apply_step(classes, step)
    return classes


def apply_step(classes: np.ndarray, step: str) -> np.ndarray:
    operation, share, klass = parse_step(step)
    region = classes == klass
    if not region.any():
        return classes
    if operation == "fill_holes":
        out = classes.copy()
        out[ndimage.binary_fill_holes(region) & ~region] = klass
        return out
    labels, count = ndimage.label(region, structure=_EIGHT)
    if count <= 1 and operation == "largest_component":
        return classes
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    sizes[0] = 0
    if operation == "largest_component":
        removed = region & (labels != int(np.argmax(sizes)))
    else:
        small = sizes < share * classes.size
        small[0] = False
        removed = small[labels]
    return _refill(classes, removed)


def _refill(classes: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """``classes`` with the ``removed`` pixels given the class of the nearest pixel kept."""
    if not removed.any():
        return classes
    if removed.all():
        return np.zeros_like(classes)
    rows, cols = ndimage.distance_transform_edt(removed, return_distances=False, return_indices=True)
    out = classes.copy()
    out[removed] = classes[rows[removed], cols[removed]]
    return out
