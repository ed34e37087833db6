"""Blind-spot masking: how many pixels, where, and what they are replaced by."""

from __future__ import annotations

import numpy as np
import pytest

from segtrain.data.loaders.n2v import N2VPatches, blind_spots, cell_side, manipulate


def test_cell_side_gives_the_share():
    assert cell_side(0.002) == 22  # round(sqrt(500)) = round(22.36)
    assert cell_side(0.25) == 2


def test_masked_share_is_about_the_asked_share():
    rng = np.random.default_rng(0)
    patch = rng.normal(size=(1, 220, 220)).astype(np.float32)  # 10 x 10 cells of 22
    _, mask = manipulate(patch, 0.002, rng)
    assert mask.sum() == 100  # one blind spot per cell
    assert mask.mean() == pytest.approx(100 / 220**2)
    assert abs(mask.mean() - 0.002) < 0.0001


def test_one_blind_spot_inside_each_cell():
    rows, cols = blind_spots((44, 66), 0.002, np.random.default_rng(1))
    cells = sorted(zip(rows // 22, cols // 22))
    assert cells == [(r, c) for r in range(2) for c in range(3)]


def test_blind_spots_take_a_neighbour_value_never_their_own():
    rng = np.random.default_rng(2)
    patch = np.arange(3 * 64 * 64, dtype=np.float32).reshape(3, 64, 64)  # every value unique
    out, mask = manipulate(patch, 0.01, rng)
    ys, xs = np.nonzero(mask[0])
    assert len(ys) > 0
    for y, x in zip(ys, xs):
        value = out[0, y, x]
        assert value != patch[0, y, x]
        sy, sx = np.argwhere(patch[0] == value)[0]
        assert max(abs(sy - y), abs(sx - x)) <= 2 and (sy, sx) != (y, x)  # inside the 5x5 window
        assert out[1, y, x] == patch[1, sy, sx] and out[2, y, x] == patch[2, sy, sx]  # same neighbour per channel
    untouched = mask[0] == 0
    assert np.array_equal(out[:, untouched], patch[:, untouched])


def test_blind_spots_at_the_border_never_keep_their_own_value():
    rng = np.random.default_rng(3)
    patch = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    for _ in range(50):
        out, mask = manipulate(patch, 0.25, rng)  # cells of 2: the border is hit often
        changed = mask[0] == 1
        assert (out[0][changed] != patch[0][changed]).all()


def test_patches_are_deterministic_and_normalised(tmp_path):
    from PIL import Image

    paths = []
    for i in range(2):
        arr = (np.random.default_rng(i).random((40, 50)) * 255).astype(np.uint8)
        Image.fromarray(arr).save(tmp_path / f"{i}.png")
        paths.append(tmp_path / f"{i}.png")
    data = N2VPatches(paths, 32, 0.01, [100.0], [10.0], seed=5, length=4)
    a, b = data[1], data[1]
    assert all(np.array_equal(x.numpy(), y.numpy()) for x, y in zip(a, b))
    noisy, target, mask = a
    assert noisy.shape == target.shape == (1, 32, 32) and mask.shape == (1, 32, 32)
    assert float(target.max()) <= (255 - 100) / 10 + 1e-5
