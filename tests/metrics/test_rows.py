"""RowScorer: an image's scores from blocks of rows equal those of the whole class maps."""

from __future__ import annotations

import numpy as np
import pytest

from segtrain.metrics.boundary import boundary_scores
from segtrain.metrics.horizon import horizon_errors, horizon_sky_class
from segtrain.metrics.reductions import confusion_counts
from segtrain.metrics.rows import RowScorer


def _reference(pred, truth, classes, ignore=None, tolerance=2):
    """The scores computed on the whole maps with the metric functions themselves."""
    confusion = confusion_counts(pred, truth, classes, ignore)
    if ignore is not None:
        pred, truth = np.where(truth == ignore, 0, pred), np.where(truth == ignore, 0, truth)
    scores = [boundary_scores(pred == c, truth == c, tolerance) for c in range(1, classes)]
    sky = horizon_sky_class(truth) if classes == 2 else None
    return confusion, scores, horizon_errors(pred, truth, sky) if sky is not None else None


def _by_rows(pred, truth, classes, cuts, ignore=None):
    scorer = RowScorer(classes, *truth.shape, ignore_index=ignore)
    for start, stop in zip([0, *cuts], [*cuts, truth.shape[0]]):
        scorer.add(pred[start:stop], truth[start:stop])
    return scorer.result()


@pytest.mark.parametrize("cuts", [[], [1], [1, 2, 3, 10, 11, 30], list(range(1, 48))])
def test_blocks_of_rows_give_the_whole_image_scores(cuts):
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(len(cuts))
    fields = np.stack([gaussian_filter(rng.standard_normal((48, 37)), 3) for _ in range(4)])
    truth = fields.argmax(0)
    pred = (fields + rng.normal(0, 0.05, fields.shape)).argmax(0)
    truth[5:9, 3:20] = 255
    pred[40:, :] = 3  # a band touching the bottom edge
    confusion, boundary, _ = _reference(pred, truth, 4, ignore=255)
    result = _by_rows(pred, truth, 4, cuts, ignore=255)
    assert np.array_equal(result.confusion, confusion)
    for c, (distance, f1) in enumerate(boundary, start=1):
        assert result.hd95[c] == pytest.approx(distance) and result.boundary_f1[c] == pytest.approx(f1)
    assert np.isnan(result.hd95[0]) and result.horizon is None


@pytest.mark.parametrize("cuts", [[], [1], [13, 14, 29]])
def test_horizon_from_column_counts(cuts):
    h, w = 40, 60
    y = np.arange(h)[:, None]
    truth = (y < np.round(0.2 * np.arange(w) + 10)).astype(int)  # sky (1) on top
    pred = (y < np.round(0.25 * np.arange(w) + 8)).astype(int)
    pred[30, 5] = 1  # a speck
    _, boundary, errors = _reference(pred, truth, 2)
    result = _by_rows(pred, truth, 2, cuts)
    assert result.horizon == pytest.approx(errors)
    assert result.hd95[1] == pytest.approx(boundary[0][0])
    sky_zero = 1 - truth  # sky as class 0
    assert _by_rows(1 - pred, sky_zero, 2, cuts).horizon == pytest.approx(_reference(1 - pred, sky_zero, 2)[2])
    broken = truth.copy()
    broken[25:30, :10] = 1  # sky below ground in a sixth of the columns: no horizon mask
    assert horizon_sky_class(broken) is None and _by_rows(pred, broken, 2, cuts).horizon is None
    tie = np.zeros((h, w), int)
    tie[:, : w // 2] = 1  # a first row half of each: the lower class is sky (all columns constant: a horizon)
    assert horizon_sky_class(tie) == 0
    assert _by_rows(pred, tie, 2, cuts).horizon == pytest.approx(_reference(pred, tie, 2)[2])


def test_empty_classes_and_a_one_pixel_wide_image():
    truth = np.zeros((9, 1), int)
    pred = np.zeros((9, 1), int)
    pred[4] = 1
    result = _by_rows(pred, truth, 3, [2, 5])
    assert result.hd95[1] == pytest.approx(np.hypot(9, 1)) and result.boundary_f1[1] == 0  # invented object
    assert np.isnan(result.hd95[2])  # absent from both
    with pytest.raises(ValueError, match="rows were added"):
        RowScorer(2, 9, 1).result()
