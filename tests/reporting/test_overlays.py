"""Error colouring, best/worst selection and the provenance hashes, on hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest

from segtrain.reporting.overlays import (
    FALSE_NEGATIVE,
    FALSE_POSITIVE,
    FN,
    FP,
    NO_ERROR,
    WRONG,
    Example,
    best_and_worst,
    blend,
    error_map,
    plot_prediction_overlays,
    plot_sample_overlays,
)
from segtrain.reporting.provenance import data_listing, sha256_file


def test_error_map_binary_multiclass_and_ignored():
    truth = np.array([[0, 0, 1, 1, 2, 255]])
    prediction = np.array([[0, 1, 0, 1, 1, 2]])
    assert error_map(truth, prediction, ignore_index=255).tolist() == [[NO_ERROR, FP, FN, NO_ERROR, WRONG, NO_ERROR]]
    assert error_map(truth, prediction)[0, 5] == WRONG  # without ignore_index it is an error


def test_error_map_multilabel():
    truth = np.array([[[1, 0, 1, 0]], [[0, 0, 1, 1]]])
    prediction = np.array([[[1, 1, 0, 0]], [[0, 0, 1, 1]]])
    assert error_map(truth, prediction).tolist() == [[NO_ERROR, FP, FN, NO_ERROR]]


def test_blend_paints_errors_in_their_colours():
    image = np.zeros((1, 3, 1), dtype=np.uint8)
    out = blend(image, np.array([[1, 1, 0]]), np.array([[NO_ERROR, FP, FN]]))
    assert out[0, 0].tolist() != [0, 0, 0]  # class 1 coloured
    assert np.allclose(out[0, 1], 0.9 * np.array(FALSE_POSITIVE), atol=0.1)
    assert np.allclose(out[0, 2], 0.9 * np.array(FALSE_NEGATIVE))


@pytest.mark.parametrize("n, best, worst", [
    (0, [], []), (1, ["i0"], []), (2, ["i1"], ["i0"]), (3, ["i2", "i1"], ["i0"]), (6, ["i5", "i4"], ["i0", "i1"]),
])
def test_best_and_worst_are_disjoint(n, best, worst):
    dice = [(f"i{k}", k / 10) for k in range(n)]
    assert best_and_worst(dice, 2) == (best, worst)


def test_overlay_figures(tmp_path):
    rng = np.random.default_rng(0)
    truth = (rng.random((16, 16)) > 0.5).astype(np.int64)
    example = Example("a", rng.integers(0, 65535, (16, 16, 1), dtype=np.uint16), truth, 1 - truth, 0.0)
    assert plot_prediction_overlays([example], tmp_path / "p.png", ["bg", "fg"]).is_file()
    assert plot_sample_overlays([example], tmp_path / "s.png", ["bg", "fg"]).is_file()
    assert plot_prediction_overlays([Example("b", example.image, truth)], tmp_path / "x.png", ["bg", "fg"]) is None
    assert plot_sample_overlays([], tmp_path / "y.png", ["bg", "fg"]) is None


def test_data_listing_follows_names_and_sizes(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(b"12")
    first = data_listing(tmp_path)
    assert (first.files, first.bytes) == (1, 2)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "report.html").write_text("x")
    assert data_listing(tmp_path, exclude=[tmp_path / "run"]) == first
    (tmp_path / "images" / "a.png").write_bytes(b"123")
    assert data_listing(tmp_path, exclude=[tmp_path / "run"]).sha256 != first.sha256
    assert data_listing(tmp_path / "missing") is None
    assert sha256_file(tmp_path / "images" / "a.png") == (
        "a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3")
