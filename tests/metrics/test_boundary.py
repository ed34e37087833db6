import math
import warnings

import numpy as np
import pytest
import torch

from segtrain.metrics.boundary import boundary_f1, boundary_pixels, hd95


def _square(top: int, left: int, size: int = 10, shape=(30, 30)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[top : top + size, left : left + size] = True
    return mask


def _monai_hd95(pred: np.ndarray, truth: np.ndarray, percentile: float = 95) -> float:
    from monai.metrics import compute_hausdorff_distance

    def onehot(mask):
        return torch.from_numpy(np.stack([~mask, mask]))[None].float()  # (1, 2, H, W)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hd = compute_hausdorff_distance(
            onehot(pred), onehot(truth), include_background=False, percentile=percentile, directed=False
        )
    return float(hd[0, 0])


def _brute_force_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    pa, pb = np.argwhere(boundary_pixels(a)), np.argwhere(boundary_pixels(b))
    return np.sqrt(((pa[:, None, :] - pb[None, :, :]) ** 2).sum(-1)).min(1)


# ---- edge extraction ----------------------------------------------------------------------


def test_boundary_pixels_hand_case():
    mask = np.zeros((5, 5), dtype=bool)
    mask[1:4, 1:4] = True
    expected = mask.copy()
    expected[2, 2] = False  # the only pixel whose 4 neighbours are all inside
    assert np.array_equal(boundary_pixels(mask), expected)
    full = np.ones((3, 4), dtype=bool)  # the image border counts as background
    assert np.array_equal(boundary_pixels(full), ~np.pad(np.ones((1, 2), bool), 1))


def test_boundary_pixels_match_monai(blobs, rng):
    from monai.metrics.utils import get_mask_edges

    for _ in range(5):
        pred, truth = blobs(rng), blobs(rng)
        edges_pred, edges_truth = get_mask_edges(pred, truth, crop=False)
        assert np.array_equal(boundary_pixels(pred), edges_pred)
        assert np.array_equal(boundary_pixels(truth), edges_truth)


# ---- hd95 --------------------------------------------------------------------------------------


def test_hd95_squares_shifted_by_three_pixels():
    assert hd95(_square(5, 5), _square(5, 8)) == pytest.approx(3.0)
    assert hd95(_square(5, 5), _square(8, 5)) == pytest.approx(3.0)


def test_hd95_hand_cases():
    a = np.zeros((10, 10), dtype=bool)
    b = a.copy()
    a[0, 0], b[3, 4] = True, True
    assert hd95(a, b) == pytest.approx(5.0)
    assert hd95(_square(5, 5), _square(5, 5)) == 0.0


def test_hd95_percentile_interpolates_linearly():
    # pred: a 1x2 bar at distance 0 and 1 from a 1-pixel truth; 50th percentile of {0, 1} = 0.5,
    # the reverse direction gives {0}: HD50 = max(0.5, 0) = 0.5
    pred = np.zeros((5, 5), dtype=bool)
    truth = pred.copy()
    pred[2, 2:4] = True
    truth[2, 2] = True
    assert hd95(pred, truth, percentile=50) == pytest.approx(0.5)
    assert hd95(pred, truth, percentile=100) == pytest.approx(1.0)


def test_hd95_empty_masks_policy():
    empty = np.zeros((30, 40), dtype=bool)
    some = empty.copy()
    some[10:15, 10:15] = True
    assert hd95(empty, empty) is None
    assert hd95(some, empty) == pytest.approx(50.0)  # the diagonal, sqrt(30^2 + 40^2)
    assert hd95(empty, some) == pytest.approx(50.0)
    # MONAI: NaN for both empty, and NaN too for one empty with a percentile (quantile of inf values)
    assert math.isnan(_monai_hd95(empty, empty))
    assert math.isnan(_monai_hd95(some, empty))


def test_hd95_ordering():
    truth = _square(10, 10, size=8)
    values = [hd95(_square(10, 10 + shift, size=8), truth) for shift in (0, 1, 2, 4)]
    assert values == sorted(values) and values[0] < values[-1]


@pytest.mark.parametrize("percentile", [95, 100, 50])
def test_hd95_matches_monai_on_random_blobs(blobs, rng, percentile):
    for _ in range(6):
        pred, truth = blobs(rng, sigma=3.0), blobs(rng, sigma=3.0)
        assert hd95(pred, truth, percentile) == pytest.approx(_monai_hd95(pred, truth, percentile), abs=1e-5)


def test_hd95_matches_monai_on_close_predictions(blobs, rng):
    from scipy.ndimage import binary_dilation

    for _ in range(4):
        truth = blobs(rng)
        pred = binary_dilation(truth, iterations=2) & ~(rng.random(truth.shape) < 0.02)
        assert hd95(pred, truth) == pytest.approx(_monai_hd95(pred, truth), abs=1e-5)


def test_hd95_rejects_bad_input():
    with pytest.raises(ValueError):
        hd95(np.zeros((3, 3), bool), np.zeros((3, 4), bool))
    with pytest.raises(ValueError):
        hd95(np.zeros((3, 3), bool), np.zeros((3, 3), bool), percentile=101)


# ---- boundary F1 --------------------------------------------------------------------------------


def test_boundary_f1_squares_shifted_by_three_pixels():
    # square edge: 36 pixels, 14 of them at distance 3 from the shifted square's edge, 22 within 2
    a, b = _square(5, 5), _square(5, 8)
    assert boundary_f1(a, b, tolerance=2) == pytest.approx(22 / 36)
    assert boundary_f1(a, b, tolerance=3) == pytest.approx(1.0)
    assert boundary_f1(a, a, tolerance=0) == pytest.approx(1.0)


def test_boundary_f1_asymmetric_hand_case():
    # truth: one pixel; prediction: a 1x5 bar. Precision 3/5 (bar pixels within 2), recall 1.
    truth = np.zeros((5, 9), dtype=bool)
    pred = truth.copy()
    truth[2, 4] = True
    pred[2, 0:5] = True
    assert boundary_f1(pred, truth, tolerance=2) == pytest.approx(2 * (3 / 5) * 1 / (3 / 5 + 1))


def test_boundary_f1_empty_masks_policy():
    empty = np.zeros((20, 20), dtype=bool)
    assert boundary_f1(empty, empty) is None
    assert boundary_f1(_square(2, 2, shape=(20, 20)), empty) == 0.0
    assert boundary_f1(empty, _square(2, 2, shape=(20, 20))) == 0.0
    assert boundary_f1(_square(0, 0, size=2, shape=(20, 20)), _square(15, 15, size=2, shape=(20, 20))) == 0.0


def test_boundary_f1_ordering():
    truth = _square(10, 10, size=10)
    values = [boundary_f1(_square(10, 10 + shift, size=10), truth, tolerance=1) for shift in (0, 1, 2, 3, 6)]
    assert values == sorted(values, reverse=True) and values[0] > values[-1]


def test_boundary_f1_matches_brute_force(blobs, rng):
    for _ in range(4):
        pred, truth = blobs(rng, shape=(32, 40)), blobs(rng, shape=(32, 40))
        precision = np.mean(_brute_force_distances(pred, truth) <= 2)
        recall = np.mean(_brute_force_distances(truth, pred) <= 2)
        expected = 2 * precision * recall / (precision + recall)
        assert boundary_f1(pred, truth, tolerance=2) == pytest.approx(expected)


def test_boundary_scores_is_both_metrics_in_one_pass(blobs, rng):
    from segtrain.metrics.boundary import boundary_scores

    pred, truth = blobs(rng), blobs(rng)
    assert boundary_scores(pred, truth, tolerance=3, percentile=90) == (
        hd95(pred, truth, percentile=90),
        boundary_f1(pred, truth, tolerance=3),
    )
    assert boundary_scores(np.zeros((4, 4), bool), np.zeros((4, 4), bool)) == (None, None)
