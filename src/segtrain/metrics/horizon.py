"""Horizon line metrics for binary sky/ground masks (sky on top, ground below).

Coordinates: ``x`` is the column index (pixel centres at integer ``x``); the horizon
``row`` of a column is its number of sky pixels, i.e. in a clean column the index of the
first ground pixel (the sky/ground edge lies between rows ``row - 1`` and ``row``). Any
constant offset between conventions cancels in the errors, which compare two lines.
"""

from __future__ import annotations

import math

import numpy as np

HORIZON_COLUMN_SHARE = 0.95
"""Share of columns that must read sky-then-ground for a mask to count as a horizon mask:
a few columns may be broken by a mast, a tree or a labelling slip without disqualifying it."""


def horizon_rows(mask: np.ndarray, sky_class: int) -> np.ndarray:
    """Per column, the row of the sky/ground boundary: the number of sky pixels in the column.

    Counting rather than searching for the first ground pixel is robust to small specks: a
    misclassified speck of ``k`` pixels moves that column's row by ``k``, wherever it sits,
    instead of moving it to the speck.

    Parameters
    ----------
    mask
        ``(H, W)`` class map.
    sky_class
        The class value of sky.

    Returns
    -------
    numpy.ndarray
        ``(W,)`` float rows, 0 (no sky) to ``H`` (all sky).
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {mask.shape}")
    return (mask == sky_class).sum(axis=0).astype(np.float64)


def fit_horizon(mask: np.ndarray, sky_class: int) -> tuple[float, float]:
    """Least-squares horizon line ``row = slope * x + intercept`` over all columns.

    Returns
    -------
    (slope, intercept)
        Over ``x = 0 .. W-1`` and the rows of :func:`horizon_rows`; a one-column mask gives
        slope 0.
    """
    return fit_rows(horizon_rows(mask, sky_class))


def fit_rows(rows: np.ndarray) -> tuple[float, float]:
    """:func:`fit_horizon` from the per-column rows of :func:`horizon_rows`."""
    rows = np.asarray(rows, dtype=np.float64)
    x = np.arange(rows.size, dtype=np.float64)
    if rows.size < 2:
        return 0.0, float(rows.mean()) if rows.size else 0.0
    xc = x - x.mean()
    slope = float((xc * (rows - rows.mean())).sum() / (xc * xc).sum())
    return slope, float(rows.mean() - slope * x.mean())


def horizon_errors(pred: np.ndarray, truth: np.ndarray, sky_class: int) -> dict[str, float]:
    """Row and angle error between the fitted horizon lines of a prediction and its truth.

    Returns
    -------
    dict
        ``row_error_px``: :math:`\\frac{1}{W} \\sum_x |\\ell_p(x) - \\ell_t(x)|` over the column
        centres ``x = 0 .. W-1``; ``angle_error_deg``:
        :math:`|\\arctan s_p - \\arctan s_t|` in degrees, with :math:`s` the fitted slopes.
    """
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction {pred.shape} and truth {truth.shape} differ in shape")
    return horizon_errors_from_rows(horizon_rows(pred, sky_class), horizon_rows(truth, sky_class))


def horizon_errors_from_rows(rows_pred: np.ndarray, rows_truth: np.ndarray) -> dict[str, float]:
    """:func:`horizon_errors` from the per-column rows (:func:`horizon_rows`) of the prediction and the truth."""
    slope_p, icpt_p = fit_rows(rows_pred)
    slope_t, icpt_t = fit_rows(rows_truth)
    x = np.arange(len(rows_truth), dtype=np.float64)
    row_error = float(np.abs((slope_p - slope_t) * x + (icpt_p - icpt_t)).mean())
    angle_error = abs(math.degrees(math.atan(slope_p) - math.atan(slope_t)))
    return {"row_error_px": row_error, "angle_error_deg": angle_error}


def horizon_sky_class(truth: np.ndarray) -> int | None:
    """The sky class of a truth mask if it shows a horizon, else ``None``.

    A horizon mask holds exactly two values, and in at least :data:`HORIZON_COLUMN_SHARE`
    of its columns the class changes at most once from top to bottom, from the sky class to
    the other (a column all sky or all ground qualifies). The sky class is the majority of the
    first row (the lower value on a tie).

    Returns
    -------
    int or None
        The sky class, or ``None`` when the mask is not a horizon mask.
    """
    truth = np.asarray(truth)
    if truth.ndim != 2 or truth.size == 0:
        return None
    values = np.unique(truth)
    if values.size != 2:
        return None
    top = truth[0]
    sky = int(values[np.argmax([(top == v).sum() for v in values])])
    is_sky = truth == sky
    changes = np.count_nonzero(is_sky[1:] != is_sky[:-1], axis=0)
    # at most one change, and it goes sky -> ground: a column starting with ground stays ground
    ok = (changes == 0) | ((changes == 1) & is_sky[0])
    return sky if ok.mean() >= HORIZON_COLUMN_SHARE else None
