"""Boundary metrics of one class: the 95th-percentile Hausdorff distance and the boundary F1.

Both work on two boolean 2-D masks of the same class (prediction and truth) and compare
their boundary pixels, extracted exactly as MONAI does
(``monai.metrics.utils.get_mask_edges`` without spacing):

    boundary = mask XOR binary_erosion(mask)

with scipy's default structuring element (the 3x3 cross, 4-connectivity) and pixels
outside the image counted as background, so a foreground pixel is a boundary pixel when it
touches the image border or one of its 4 neighbours is background. Distances are Euclidean
between pixel centres, in pixels (unit spacing).

Empty masks
-----------
Both masks empty: the metric is undefined, ``None`` (skipped from every mean).
Exactly one empty: ``hd95`` is the image diagonal :math:`\\sqrt{H^2 + W^2}`, the largest
possible distance, and ``boundary_f1`` is 0. (MONAI returns ``NaN`` for both empty; for one
empty, ``inf`` without a percentile and ``NaN`` with one, since the quantile of ``inf``
values is ``NaN``; so a missed or hallucinated object would silently drop out of its means.)
"""

from __future__ import annotations

import math

import numpy as np


def boundary_pixels(mask: np.ndarray) -> np.ndarray:
    """Boundary pixels of a boolean mask: the mask minus its binary erosion (4-connectivity).

    Pixels outside the image count as background, so mask pixels on the image border are
    boundary pixels. Identical to ``monai.metrics.utils.get_mask_edges`` (no spacing).
    """
    from scipy.ndimage import binary_erosion

    mask = np.asarray(mask, dtype=bool)
    return mask ^ binary_erosion(mask, border_value=0)


def _check(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=bool)
    truth = np.asarray(truth, dtype=bool)
    if pred.shape != truth.shape or pred.ndim != 2:
        raise ValueError(f"expected two 2-D masks of one shape, got {pred.shape} and {truth.shape}")
    return pred, truth


def _surface_distances(points_pred: np.ndarray, points_truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distances from each predicted boundary pixel to the truth boundary, and vice versa.

    Both point sets ``(n, 2)`` must be non-empty. Exact nearest-neighbour distances between the
    boundary pixel coordinates (a KD-tree, as MONAI does on CPU), cheaper than a dense distance
    transform because boundaries are sparse.
    """
    from scipy.spatial import cKDTree

    points_pred = np.asarray(points_pred, dtype=np.float64)
    points_truth = np.asarray(points_truth, dtype=np.float64)
    to_truth = cKDTree(points_truth).query(points_pred, k=1)[0]
    to_pred = cKDTree(points_pred).query(points_truth, k=1)[0]
    return to_truth, to_pred


def _hd(to_truth: np.ndarray, to_pred: np.ndarray, percentile: float) -> float:
    return float(max(np.percentile(to_truth, percentile), np.percentile(to_pred, percentile)))


def _f1(to_truth: np.ndarray, to_pred: np.ndarray, tolerance: float) -> float:
    precision = float(np.mean(to_truth <= tolerance))
    recall = float(np.mean(to_pred <= tolerance))
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def boundary_scores(
    pred: np.ndarray, truth: np.ndarray, tolerance: float = 2, percentile: float = 95
) -> tuple[float | None, float | None]:
    """``(hd95(pred, truth, percentile), boundary_f1(pred, truth, tolerance))`` from one distance pass."""
    pred, truth = _check(pred, truth)
    return boundary_scores_from_points(np.argwhere(boundary_pixels(pred)), np.argwhere(boundary_pixels(truth)),
                                       pred.shape, tolerance, percentile)


def boundary_scores_from_points(
    points_pred: np.ndarray, points_truth: np.ndarray, shape: tuple[int, int], tolerance: float = 2,
    percentile: float = 95,
) -> tuple[float | None, float | None]:
    """:func:`boundary_scores` from the ``(row, col)`` coordinates of the boundary pixels (:func:`boundary_pixels`)
    of the prediction and the truth of an image of ``shape``, in any order; for images scored by rows."""
    if not 0 <= percentile <= 100:
        raise ValueError(f"percentile must be in [0, 100], got {percentile}")
    has_pred, has_truth = len(points_pred) > 0, len(points_truth) > 0
    if not has_pred and not has_truth:
        return None, None
    if has_pred != has_truth:
        return math.hypot(*shape), 0.0
    to_truth, to_pred = _surface_distances(points_pred, points_truth)
    return _hd(to_truth, to_pred, percentile), _f1(to_truth, to_pred, tolerance)


def hd95(pred: np.ndarray, truth: np.ndarray, percentile: float = 95) -> float | None:
    """Symmetric percentile Hausdorff distance between the boundaries of two masks, in pixels.

    Parameters
    ----------
    pred, truth
        Boolean ``(H, W)`` masks of one class.
    percentile
        In ``[0, 100]``; 95 gives HD95, 100 the classical Hausdorff distance.

    Returns
    -------
    float or None
        ``None`` when both masks are empty; the image diagonal when exactly one is.

    Notes
    -----
    With :math:`d(a, B)` the Euclidean distance from boundary pixel :math:`a` to the nearest
    boundary pixel of :math:`B`, and :math:`P_q` the ``q``-th percentile with linear
    interpolation (``numpy.percentile``, as ``torch.quantile``):

    .. math:: HD_q = \\max\\big(P_q\\{d(a, T)\\}_{a \\in \\partial P},\\; P_q\\{d(b, P)\\}_{b \\in \\partial T}\\big)

    the definition of ``monai.metrics.compute_hausdorff_distance(percentile=q, directed=False)``.
    """
    return boundary_scores(pred, truth, percentile=percentile)[0]


def boundary_f1(pred: np.ndarray, truth: np.ndarray, tolerance: float = 2) -> float | None:
    """F1 of boundary pixels matched within ``tolerance`` pixels.

    Parameters
    ----------
    pred, truth
        Boolean ``(H, W)`` masks of one class.
    tolerance
        A boundary pixel is matched when a boundary pixel of the other mask lies within this
        Euclidean distance (inclusive), in pixels.

    Returns
    -------
    float or None
        ``None`` when both masks are empty, 0 when exactly one is.

    Notes
    -----
    Precision :math:`= |\\{a \\in \\partial P : d(a, \\partial T) \\le \\tau\\}| / |\\partial P|`,
    recall :math:`= |\\{b \\in \\partial T : d(b, \\partial P) \\le \\tau\\}| / |\\partial T|`,
    F1 :math:`= 2 \\cdot \\text{precision} \\cdot \\text{recall} / (\\text{precision} + \\text{recall})`
    (0 when both are 0), with :math:`\\tau` the ``tolerance``.

    References
    ----------
    Csurka, Larlus, Perronnin, "What is a good evaluation measure for semantic segmentation?",
    BMVC 2013 (the boundary F1, "BF score").
    """
    return boundary_scores(pred, truth, tolerance=tolerance)[1]
