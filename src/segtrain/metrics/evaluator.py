"""Whole-image evaluation: region, boundary and horizon scores of a set of predictions.

:class:`SegmentationEvaluator` takes one ``(prediction, truth)`` pair of ``(H, W)`` class maps
at a time, keeps only counts and per-image numbers (never the masks) and reduces at the end.
Images too large for a whole class map are scored by rows (:meth:`SegmentationEvaluator.scorer`,
:class:`~segtrain.metrics.rows.RowScorer`) to the same numbers.

Reductions (see :mod:`segtrain.metrics.reductions` for the formulas and absent-class policy):

- ``pooled``: per-class scores from one confusion matrix summed over all images (every pixel
  weighs the same); its ``iou``/``dice``/``precision``/``recall`` follow the top-level
  convention: the foreground class's for two classes, the mean over classes otherwise.
- ``mean_over_classes``: the unweighted mean over classes of the pooled per-class scores.
- ``mean_over_images``: per class, the mean over the images where that class's score is
  defined of each image's own score; then the mean of those over classes.

Boundary scores (:mod:`segtrain.metrics.boundary`) are computed per image and per
foreground class, i.e. every class except 0 (class 0's boundary is mostly the image frame;
this matches MONAI's ``include_background=False``); their per-class value is the mean over
the images where it is defined, and the top-level ``hd95`` / ``boundary_f1`` is the mean of
those over the foreground classes (for two classes: class 1's mean over images).

Horizon scores (:mod:`segtrain.metrics.horizon`) are computed for two-class runs only, on
each image whose truth is a horizon mask; the means are reported when at least
:data:`HORIZON_IMAGE_SHARE` of the images are horizon masks.

Ignored pixels (``ignore_index`` in the truth) are left out of the confusion counts; for the
boundary and horizon scores they are set to class 0 in both prediction and truth (MONAI's
``HausdorffDistanceMetric(ignore_index=...)`` likewise zeroes both), so they add no error.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from segtrain.metrics.collection import scores_from_confusion
from segtrain.metrics.horizon import HORIZON_COLUMN_SHARE
from segtrain.metrics.reductions import (
    SCORE_NAMES,
    class_scores,
    mean_over_classes,
    mean_over_images,
    nan_mean,
)
from segtrain.metrics.rows import ImageScores, RowScorer

HORIZON_IMAGE_SHARE = 0.75
"""Share of truth masks that must be horizon masks for the horizon means to be reported:
a horizon data set may hold a few frames without a visible horizon, a blob data set none."""

_DESCRIPTIONS = {
    "pooled": "Per-class scores from one confusion matrix summed over all images; the scalars are the "
    "foreground class's for two classes, the mean over classes otherwise.",
    "mean_over_classes": "Unweighted mean over classes of the pooled per-class scores, skipping undefined classes.",
    "mean_over_images": "Per class, the mean over the images where it is defined of each image's own score; "
    "the scalars are the mean of those over classes.",
}


def _json(value: Any) -> Any:
    """Plain Python numbers and lists with ``None`` for ``NaN``."""
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_json(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    return value


class SegmentationEvaluator:
    """Accumulates whole-image scores; :meth:`result` gives a JSON-serialisable report.

    Parameters
    ----------
    num_classes
        ``C``; class maps hold values in ``[0, C)`` (the truth may also hold ``ignore_index``).
    class_names
        Optional display names, one per class.
    ignore_index
        Truth value excluded from every score.
    tolerance
        Boundary F1 tolerance in pixels.
    """

    def __init__(
        self,
        num_classes: int,
        class_names: list[str] | None = None,
        ignore_index: int | None = None,
        tolerance: int = 2,
    ) -> None:
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f"{len(class_names)} class names for {num_classes} classes")
        self.num_classes = num_classes
        self.class_names = class_names
        self.ignore_index = ignore_index
        self.tolerance = tolerance
        self._confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
        self._class_scores: list[dict[str, np.ndarray]] = []
        self._boundary: dict[str, list[np.ndarray]] = {"hd95": [], "boundary_f1": []}
        self._horizon: list[dict[str, float]] = []
        self._rows: list[dict[str, Any]] = []

    @property
    def foreground_classes(self) -> list[int]:
        """The classes scored by the boundary metrics: all but class 0."""
        return list(range(1, self.num_classes))

    def add(self, stem: str, prediction: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
        """Score one image and remember its counts and numbers.

        Parameters
        ----------
        stem
            The image's name in the report.
        prediction, truth
            ``(H, W)`` integer class maps.

        Returns
        -------
        dict
            This image's row: ``stem``, ``dice``, ``iou``, ``pixel_accuracy``, ``hd95``,
            ``boundary_f1`` and, when its truth is a horizon mask of a two-class run,
            ``horizon_row_error_px`` and ``horizon_angle_error_deg``.
        """
        prediction, truth = np.asarray(prediction), np.asarray(truth)
        if prediction.ndim != 2 or prediction.shape != truth.shape:
            raise ValueError(f"expected two (H, W) maps of one shape, got {prediction.shape} and {truth.shape}")
        scorer = RowScorer(self.num_classes, *truth.shape, ignore_index=self.ignore_index, tolerance=self.tolerance)
        scorer.add(prediction, truth)
        return self.add_scores(stem, scorer.result())

    def scorer(self, height: int, width: int) -> RowScorer:
        """A :class:`~segtrain.metrics.rows.RowScorer` for an image scored by rows; hand its result to
        :meth:`add_scores`."""
        return RowScorer(self.num_classes, height, width, ignore_index=self.ignore_index, tolerance=self.tolerance)

    def add_scores(self, stem: str, scores: ImageScores) -> dict[str, Any]:
        """Remember one image's scores gathered by a :class:`~segtrain.metrics.rows.RowScorer` (images too large
        to hold a class map of); returns its row as :meth:`add` does."""
        confusion = scores.confusion
        self._confusion += confusion
        self._class_scores.append(class_scores(confusion))
        summary = scores_from_confusion(confusion)
        row: dict[str, Any] = {
            "stem": stem,
            "dice": summary["dice"],
            "iou": summary["iou"],
            "pixel_accuracy": summary["pixel_accuracy"],
        }
        self._boundary["hd95"].append(scores.hd95)
        self._boundary["boundary_f1"].append(scores.boundary_f1)
        row["hd95"] = _json(nan_mean(scores.hd95))
        row["boundary_f1"] = _json(nan_mean(scores.boundary_f1))
        if scores.horizon is not None:
            self._horizon.append(scores.horizon)
            row["horizon_row_error_px"] = scores.horizon["row_error_px"]
            row["horizon_angle_error_deg"] = scores.horizon["angle_error_deg"]
        self._rows.append(row)
        return row

    def _reductions(self) -> dict[str, Any]:
        pooled_scores = class_scores(self._confusion)
        two = self.num_classes == 2
        over_classes = mean_over_classes(pooled_scores)
        over_images = mean_over_images(self._class_scores, self.num_classes)
        return {
            "pooled": {
                "description": _DESCRIPTIONS["pooled"],
                **{k: (pooled_scores[k][1] if two else over_classes[k]) for k in SCORE_NAMES},
                "per_class": {k: pooled_scores[k] for k in SCORE_NAMES},
            },
            "mean_over_classes": {"description": _DESCRIPTIONS["mean_over_classes"], **over_classes},
            "mean_over_images": {"description": _DESCRIPTIONS["mean_over_images"], **over_images},
        }

    def _horizon_summary(self) -> dict[str, Any]:
        n_images = len(self._rows)
        n_horizon = len(self._horizon)
        out: dict[str, Any] = {"horizon_row_error_px": None, "horizon_angle_error_deg": None, "horizon_note": None}
        if self.num_classes != 2:
            out["horizon_note"] = f"horizon scores are for two-class runs; this run has {self.num_classes} classes"
        elif n_images == 0:
            out["horizon_note"] = "no images were evaluated"
        elif n_horizon < HORIZON_IMAGE_SHARE * n_images:
            out["horizon_note"] = (
                f"{n_horizon} of {n_images} truth masks are horizon masks (sky above ground in at least "
                f"{HORIZON_COLUMN_SHARE:.0%} of columns), fewer than {HORIZON_IMAGE_SHARE:.0%}: not a horizon data set"
            )
        else:
            out["horizon_row_error_px"] = float(np.mean([e["row_error_px"] for e in self._horizon]))
            out["horizon_angle_error_deg"] = float(np.mean([e["angle_error_deg"] for e in self._horizon]))
            out["horizon_note"] = f"means over the {n_horizon} of {n_images} images whose truth is a horizon mask"
        out["n_horizon_images"] = n_horizon
        return out

    def result(self) -> dict[str, Any]:
        """The report: pooled scores, the three reductions, boundary and horizon scores, rows.

        Returns
        -------
        dict
            JSON-serialisable (``None`` for undefined values): every key of
            :func:`~segtrain.metrics.scores_from_confusion` on the pooled counts (``per_class``
            entries gain ``hd95`` and ``boundary_f1``, ``None`` for class 0); ``reductions``;
            ``n_images``; ``per_image``; ``hd95``, ``boundary_f1``, ``boundary_tolerance_px``;
            ``horizon_row_error_px``, ``horizon_angle_error_deg``, ``horizon_note``,
            ``n_horizon_images``; ``confusion``: the pooled ``(C, C)`` pixel counts, truth x prediction.
        """
        out = scores_from_confusion(self._confusion, self.class_names)
        out["confusion"] = self._confusion.tolist()
        out["reductions"] = self._reductions()
        for name in ("hd95", "boundary_f1"):
            stack = np.array(self._boundary[name]).reshape(len(self._rows), self.num_classes)
            per_class = nan_mean(stack, axis=0)
            for entry, value in zip(out["per_class"], per_class):
                entry[name] = value
            out[name] = nan_mean(per_class[self.foreground_classes])
        out["boundary_tolerance_px"] = self.tolerance
        out.update(self._horizon_summary())
        out["n_images"] = len(self._rows)
        out["per_image"] = self._rows
        return _json(out)
