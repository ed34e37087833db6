"""One image's scores from its rows: what :class:`~segtrain.metrics.evaluator.SegmentationEvaluator` keeps
of an image, gathered from blocks of consecutive rows so that no whole class map is ever needed.

:class:`RowScorer` takes ``(prediction, truth)`` blocks top to bottom and keeps:

- the confusion counts (:func:`~segtrain.metrics.reductions.confusion_counts`), added per block;
- the coordinates of the boundary pixels of every foreground class in prediction and truth
  (:func:`~segtrain.metrics.boundary.boundary_pixels`: a pixel of the class with a 4-neighbour
  outside it or outside the image), found once the row below is known; the boundary scores
  then come from :func:`~segtrain.metrics.boundary.boundary_scores_from_points`;
- for two classes, per column the pixels of class 1 in prediction and truth, the truth's first
  row and its changes between class 0 and 1 down each column: enough for
  :func:`~segtrain.metrics.horizon.horizon_sky_class` and
  :func:`~segtrain.metrics.horizon.horizon_errors`.

Memory is one block, two carried rows, ``O(W)`` per-column counts and the boundary coordinates
(proportional to the boundary length, not the area). Fed one block holding the whole image, or
many, the result is the same (ignored truth pixels count as class 0 in both maps for boundaries
and the horizon, as the evaluator does).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segtrain.metrics.boundary import boundary_scores_from_points
from segtrain.metrics.horizon import HORIZON_COLUMN_SHARE, horizon_errors_from_rows
from segtrain.metrics.reductions import confusion_counts

_OUTSIDE = -1
"""Class of the rows above and below the image: never a class, so image-edge pixels are boundary pixels."""


@dataclass
class ImageScores:
    """What the evaluator keeps of one image."""

    confusion: np.ndarray
    """``(C, C)`` int64 pixel counts, truth x prediction (ignored pixels left out)."""
    hd95: np.ndarray
    """``(C,)`` per class, NaN where undefined (class 0 and classes absent from both maps)."""
    boundary_f1: np.ndarray
    horizon: dict[str, float] | None
    """:func:`~segtrain.metrics.horizon.horizon_errors` when the truth is a horizon mask of a two-class map."""


class RowScorer:
    """Scores of one ``height x width`` image fed as blocks of consecutive rows, top to bottom.

    Parameters
    ----------
    num_classes : int
        ``C``; maps hold values in ``[0, C)`` (the truth may also hold ``ignore_index``).
    height, width : int
        The image's size.
    ignore_index : int, optional
        Truth value left out of the counts and read as class 0 for boundaries and the horizon.
    tolerance : float
        Boundary F1 tolerance in pixels.
    """

    def __init__(self, num_classes: int, height: int, width: int, ignore_index: int | None = None,
                 tolerance: float = 2):
        self.num_classes, self.shape = num_classes, (height, width)
        self.ignore_index, self.tolerance = ignore_index, tolerance
        self.confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
        self.done = 0
        outside = np.full((1, width), _OUTSIDE, dtype=np.int64)
        self._context = {"pred": outside, "truth": outside}  # the rows above the next block's first
        self._points = {key: {c: [] for c in range(1, num_classes)} for key in ("pred", "truth")}
        self._ones = {"pred": np.zeros(width, np.int64), "truth": np.zeros(width, np.int64)}
        self._changes = np.zeros(width, np.int64)
        self._first: np.ndarray | None = None

    def add(self, prediction: np.ndarray, truth: np.ndarray) -> None:
        """The next rows: two ``(h, W)`` integer class maps."""
        prediction, truth = np.asarray(prediction), np.asarray(truth)
        if prediction.shape != truth.shape or prediction.ndim != 2 or prediction.shape[1] != self.shape[1]:
            raise ValueError(f"expected two (h, {self.shape[1]}) maps of one shape, got {prediction.shape} "
                             f"and {truth.shape}")
        if self.done + truth.shape[0] > self.shape[0]:
            raise ValueError(f"more than the image's {self.shape[0]} rows")
        self.confusion += confusion_counts(prediction, truth, self.num_classes, self.ignore_index)
        if self.ignore_index is not None:
            ignored = truth == self.ignore_index
            prediction, truth = np.where(ignored, 0, prediction), np.where(ignored, 0, truth)
        for key, rows in (("pred", prediction), ("truth", truth)):
            self._boundaries(key, rows.astype(np.int64, copy=False))
        if self.num_classes == 2 and truth.size:
            self._horizon_rows(prediction, truth)
        self.done += truth.shape[0]

    def _boundaries(self, key: str, rows: np.ndarray, last: bool = False) -> None:
        """Boundary pixels of every row whose row below is now known; keeps two rows as context."""
        stack = np.concatenate([self._context[key], rows])
        first = self.done - (self._context[key].shape[0] - 1)  # image row of stack[1]
        for c, points in self._points[key].items():
            inside = stack == c
            middle = inside[1:-1]
            eroded = middle & inside[:-2] & inside[2:]
            eroded[:, 1:-1] &= middle[:, :-2] & middle[:, 2:]
            eroded[:, [0, -1]] = False
            r, col = np.nonzero(middle & ~eroded)
            if r.size:
                points.append(np.stack([r + first, col], axis=1))
        if not last:
            self._context[key] = stack[-2:]

    def _horizon_rows(self, prediction: np.ndarray, truth: np.ndarray) -> None:
        for key, rows in (("pred", prediction), ("truth", truth)):
            self._ones[key] += np.count_nonzero(rows == 1, axis=0)
        ones = truth == 1
        if self._first is None:
            self._first = truth[0].copy()
        else:
            self._changes += self._last != ones[0]
        self._changes += np.count_nonzero(ones[1:] != ones[:-1], axis=0)
        self._last = ones[-1].copy()

    def result(self) -> ImageScores:
        """The image's scores once all its rows were added."""
        if self.done != self.shape[0]:
            raise ValueError(f"{self.done} of the image's {self.shape[0]} rows were added")
        outside = np.full((1, self.shape[1]), _OUTSIDE, dtype=np.int64)
        for key in ("pred", "truth"):
            self._boundaries(key, outside, last=True)
        hd = np.full(self.num_classes, np.nan)
        bf = np.full(self.num_classes, np.nan)
        for c in range(1, self.num_classes):
            pred, truth = (np.concatenate(self._points[key][c] or [np.empty((0, 2), np.int64)])
                           for key in ("pred", "truth"))
            distance, f1 = boundary_scores_from_points(pred, truth, self.shape, self.tolerance)
            hd[c] = np.nan if distance is None else distance
            bf[c] = np.nan if f1 is None else f1
        return ImageScores(self.confusion, hd, bf, self._horizon())

    def _horizon(self) -> dict[str, float] | None:
        """:func:`~segtrain.metrics.horizon.horizon_sky_class` and :func:`~segtrain.metrics.horizon.horizon_errors`
        from the per-column counts."""
        if self.num_classes != 2 or self._first is None:
            return None
        height = self.shape[0]
        truth_ones = self._ones["truth"]
        if not truth_ones.any() or (truth_ones == height).all():
            return None  # one value only: not a horizon mask
        top_ones = int(np.count_nonzero(self._first == 1))
        sky = 1 if top_ones > self._first.size - top_ones else 0  # the first row's majority, the lower on a tie
        starts_sky = self._first == sky
        ok = (self._changes == 0) | ((self._changes == 1) & starts_sky)
        if ok.mean() < HORIZON_COLUMN_SHARE:
            return None
        rows = {key: (ones if sky == 1 else height - ones).astype(np.float64) for key, ones in self._ones.items()}
        return horizon_errors_from_rows(rows["pred"], rows["truth"])
