import math

import numpy as np
import pytest

from segtrain.metrics.horizon import fit_horizon, horizon_errors, horizon_rows, horizon_sky_class


def test_horizon_rows_count_sky_pixels_and_shrug_off_specks(horizon):
    mask = horizon((10, 6), slope=1.0, row0=2.0, sky=1)
    assert horizon_rows(mask, 1).tolist() == [2, 3, 4, 5, 6, 7]
    specked = mask.copy()
    specked[9, 0] = 1  # one sky pixel deep in the ground
    specked[0, 5] = 0  # one ground pixel in the sky
    assert horizon_rows(specked, 1).tolist() == [3, 3, 4, 5, 6, 6]  # each moved by 1, not to the speck
    assert horizon_rows(mask, 0).tolist() == [8, 7, 6, 5, 4, 3]


def test_fit_recovers_an_integer_slope_exactly(horizon):
    slope, intercept = fit_horizon(horizon((60, 40), slope=1.0, row0=5.0, sky=0), sky_class=0)
    assert slope == pytest.approx(1.0, abs=1e-12) and intercept == pytest.approx(5.0, abs=1e-9)


def test_fit_recovers_a_tilted_horizon(horizon):
    # slope 0.1 rasterised to whole pixels: recovered up to the rounding
    slope, intercept = fit_horizon(horizon((80, 200), slope=0.1, row0=30.0), sky_class=1)
    assert slope == pytest.approx(0.1, abs=1e-3)
    assert intercept == pytest.approx(30.0, abs=0.2)


def test_shifted_prediction_gives_row_error_3_and_no_angle(horizon):
    truth = horizon((80, 120), slope=0.1, row0=30.0)
    pred = np.concatenate([np.ones((3, 120), int), truth[:-3]])  # the image content moved 3 rows down
    errors = horizon_errors(pred, truth, sky_class=1)
    assert errors["row_error_px"] == pytest.approx(3.0, abs=1e-9)
    assert errors["angle_error_deg"] == pytest.approx(0.0, abs=1e-9)


def test_rotated_prediction_gives_known_angle(horizon):
    truth = horizon((100, 50), slope=0.0, row0=30.0)
    pred = horizon((100, 50), slope=1.0, row0=5.0)  # exactly 45 degrees
    errors = horizon_errors(pred, truth, sky_class=1)
    assert errors["angle_error_deg"] == pytest.approx(45.0)
    assert errors["row_error_px"] == pytest.approx(np.abs(np.arange(50) + 5.0 - 30.0).mean())
    tilted = horizon((200, 300), slope=math.tan(math.radians(10)), row0=40.0)
    flat = horizon((200, 300), slope=0.0, row0=40.0)
    assert horizon_errors(tilted, flat, 1)["angle_error_deg"] == pytest.approx(10.0, abs=0.05)


def test_horizon_errors_ordering(horizon):
    truth = horizon((60, 80), slope=0.2, row0=20.0)
    errors = [horizon_errors(horizon((60, 80), slope=0.2 + d, row0=20.0 + 2 * d), truth, 1) for d in (0, 0.1, 0.3)]
    assert [e["row_error_px"] for e in errors] == sorted(e["row_error_px"] for e in errors)
    assert errors[0]["angle_error_deg"] < errors[1]["angle_error_deg"] < errors[2]["angle_error_deg"]


def test_sky_class_of_horizon_masks(horizon):
    assert horizon_sky_class(horizon((40, 60), slope=0.3, row0=5.0, sky=1)) == 1
    assert horizon_sky_class(horizon((40, 60), slope=-0.2, row0=30.0, sky=0)) == 0
    # the horizon may leave the image: columns all sky or all ground still qualify
    assert horizon_sky_class(horizon((40, 60), slope=1.0, row0=-10.0, sky=1)) == 1


def test_sky_class_tolerates_a_few_broken_columns(horizon):
    mask = horizon((40, 100), slope=0.0, row0=20.0, sky=1)
    mask[30:35, :4] = 1  # 4% of the columns change three times
    assert horizon_sky_class(mask) == 1
    mask[30:35, :6] = 1  # 6%: too many
    assert horizon_sky_class(mask) is None


def test_sky_class_rejects_non_horizons(blobs, rng, horizon):
    for _ in range(5):
        assert horizon_sky_class(blobs(rng).astype(int)) is None
    assert horizon_sky_class(np.zeros((10, 10), int)) is None  # one class only
    three = horizon((40, 60), row0=20.0)
    three[35:, :] = 2
    assert horizon_sky_class(three) is None  # not binary
    upside_down_in_half = horizon((40, 60), row0=20.0)
    upside_down_in_half[:, 30:] = upside_down_in_half[::-1, 30:]
    assert horizon_sky_class(upside_down_in_half) is None  # half the columns read ground-then-sky
