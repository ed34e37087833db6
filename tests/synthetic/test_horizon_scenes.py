"""Tests for segtrain.synthetic.horizon: the procedural horizon dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segtrain.synthetic.horizon import synthesize_horizon
from segtrain.errors import UserError


def _load(root: Path, n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    images, masks = [], []
    for i in range(n):
        with Image.open(root / "images" / f"{i:04d}.png") as im:
            assert im.mode == "RGB"
            images.append(np.asarray(im))
        with Image.open(root / "masks" / f"{i:04d}.png") as m:
            assert m.mode == "L"
            masks.append(np.asarray(m))
    return images, masks


@pytest.fixture
def two_class(tmp_path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """24 scenes of 64x64 with classes=2, for the statistical tests (about 0.1 s)."""
    assert synthesize_horizon(tmp_path, n=24, size=64, seed=0) == 24
    return _load(tmp_path, 24)


def test_files_shapes_and_modes(tmp_path):
    assert synthesize_horizon(tmp_path, n=5, size=48, seed=1) == 5
    names = [f"{i:04d}.png" for i in range(5)]
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == names
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == names
    images, masks = _load(tmp_path, 5)
    for image, mask in zip(images, masks):
        assert image.shape == (48, 48, 3) and image.dtype == np.uint8
        assert mask.shape == (48, 48) and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 1}


def test_two_classes_both_appear(two_class):
    images, masks = two_class
    values = np.unique(np.stack(masks[:12]))
    assert set(values) == {0, 1}
    # every single image has both some sky and some ground
    assert all(0 < m.mean() < 1 for m in masks)
    # images are not flat
    assert all(im.std() > 3 for im in images)


def test_three_classes_all_appear(tmp_path):
    synthesize_horizon(tmp_path, n=12, size=48, seed=0, classes=3)
    _, masks = _load(tmp_path, 12)
    stacked = np.stack(masks)
    assert set(np.unique(stacked)) == {0, 1, 2}
    assert all(set(np.unique(m)) <= {0, 1, 2} for m in masks)
    # water (2) only ever lies below the sky: in each column, no water above sky
    for m in masks:
        for col in m.T:
            water = np.flatnonzero(col == 2)
            sky = np.flatnonzero(col == 1)
            if water.size and sky.size:
                assert water.min() > sky.max()


def test_three_class_sky_matches_two_class_sky(tmp_path):
    synthesize_horizon(tmp_path / "a", n=6, size=32, seed=5, classes=2)
    synthesize_horizon(tmp_path / "b", n=6, size=32, seed=5, classes=3)
    _, m2 = _load(tmp_path / "a", 6)
    _, m3 = _load(tmp_path / "b", 6)
    for a, b in zip(m2, m3):
        np.testing.assert_array_equal(a == 1, b == 1)


def test_deterministic_and_prefix(tmp_path):
    synthesize_horizon(tmp_path / "a", n=6, size=32, seed=3)
    synthesize_horizon(tmp_path / "b", n=6, size=32, seed=3)
    synthesize_horizon(tmp_path / "c", n=3, size=32, seed=3)
    synthesize_horizon(tmp_path / "d", n=6, size=32, seed=4)
    for sub in ("images", "masks"):
        for i in range(6):
            name = f"{i:04d}.png"
            assert (tmp_path / "a" / sub / name).read_bytes() == (tmp_path / "b" / sub / name).read_bytes()
        assert sorted(p.name for p in (tmp_path / "c" / sub).iterdir()) == [f"{i:04d}.png" for i in range(3)]
        for i in range(3):
            name = f"{i:04d}.png"
            assert (tmp_path / "c" / sub / name).read_bytes() == (tmp_path / "a" / sub / name).read_bytes()
    a, _ = _load(tmp_path / "a", 6)
    d, _ = _load(tmp_path / "d", 6)
    assert all(not np.array_equal(x, y) for x, y in zip(a, d))


def test_overwrites_own_files_and_keeps_others(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "0000.png").write_bytes(b"stale")
    (tmp_path / "images" / "notes.txt").write_text("keep me")
    synthesize_horizon(tmp_path, n=2, size=32)
    assert (tmp_path / "images" / "notes.txt").read_text() == "keep me"
    with Image.open(tmp_path / "images" / "0000.png") as im:
        assert im.size == (32, 32)


def test_sky_fraction_varies(two_class):
    _, masks = two_class
    fractions = [float((m == 1).mean()) for m in masks]
    assert min(fractions) < 0.35
    assert max(fractions) > 0.6


def test_some_horizons_are_rolled(two_class):
    _, masks = two_class
    # sky pixels per column, averaged over the 8 leftmost and 8 rightmost columns
    tilts = [abs((m[:, :8] == 1).sum(0).mean() - (m[:, -8:] == 1).sum(0).mean()) for m in masks]
    assert sum(t >= 6 for t in tilts) >= 3
    assert min(tilts) < 6  # and some are close to level


def _best_threshold_iou(images: list[np.ndarray], masks: list[np.ndarray]) -> float:
    """Best pooled sky IoU of one global brightness threshold, in either direction."""
    grey = np.concatenate([np.asarray(Image.fromarray(im).convert("L")).ravel() for im in images])
    sky = np.concatenate([(m == 1).ravel() for m in masks])
    sky_hist = np.bincount(grey[sky], minlength=256).astype(float)
    other_hist = np.bincount(grey[~sky], minlength=256).astype(float)
    total_sky = sky_hist.sum()
    # predict sky where grey >= t, for t = 0..255
    tp_up = np.cumsum(sky_hist[::-1])[::-1]
    fp_up = np.cumsum(other_hist[::-1])[::-1]
    iou_up = tp_up / (total_sky + fp_up)
    # predict sky where grey <= t
    tp_down = np.cumsum(sky_hist)
    fp_down = np.cumsum(other_hist)
    iou_down = tp_down / (total_sky + fp_down)
    return float(max(iou_up.max(), iou_down.max()))


def test_not_a_brightness_threshold(two_class):
    images, masks = two_class
    assert _best_threshold_iou(images, masks) < 0.85


def test_threshold_helper_finds_an_easy_split():
    # sanity check of the helper: a perfectly separable case scores 1
    bright = np.full((4, 4, 3), 200, np.uint8)
    dark = np.full((4, 4, 3), 20, np.uint8)
    image = np.concatenate([bright, dark])
    mask = np.concatenate([np.ones((4, 4), np.uint8), np.zeros((4, 4), np.uint8)])
    assert _best_threshold_iou([image], [mask]) == 1.0
    assert _best_threshold_iou([image[::-1]], [mask]) == 1.0


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"classes": 4}, "classes"),
        ({"classes": 1}, "classes"),
        ({"n": 0}, "--n 0"),  # the flag the user typed (synth horizon --n, demo --n), not n=0
        ({"size": 15}, "size"),
        ({"size": 8.5}, "size"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_arguments_raise_user_error(tmp_path, kwargs, word):
    with pytest.raises(UserError, match=word) as info:
        synthesize_horizon(tmp_path / "out", **kwargs)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()
