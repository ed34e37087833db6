import numpy as np
import pytest

from segtrain.data.rescale import FILL, FIT
from segtrain.data.structures import HALF_FILL, HALF_FIT, _ridge_widths, evenly_spaced, half_of, measure_structures, scale_key


@pytest.mark.parametrize("width", [1, 3, 5, 9])
def test_ridge_width_of_a_band_of_odd_width_is_its_width(width):
    band = np.zeros((40, 80), bool)
    band[10:10 + width, 5:75] = True
    widths = _ridge_widths(band)
    values, counts = np.unique(widths, return_counts=True)
    assert values[np.argmax(counts)] == width  # the centre line; the band's ends add a few shorter ones


def test_thin_lines_lose_ceiling_when_shrunk_and_blocks_do_not():
    masks = []
    for _ in range(3):
        m = np.zeros((64, 64), dtype=np.int64)
        m[:, 31] = 1  # a one-pixel line
        m[40:, :] = 2  # a large block
        m[40:, 31] = 2
        masks.append(m)
    s = measure_structures(masks, 3, [0.5, 0.25], patch=32)
    line, block = s.classes[1], s.classes[2]
    assert s.masks == 3
    assert line.thin_px == 1.0 and block.thin_px > 10
    assert line.ceilings["0.5"] < 0.9  # a 1-px line cannot survive halving
    assert block.ceilings["0.5"] > 0.99 and block.ceilings["0.25"] > 0.98
    assert s.ceiling(1.0) == [1.0, 1.0, 1.0]
    assert s.classes[2].share == pytest.approx(24 * 64 / (3 * 64 * 64) * 3, rel=1e-6)


def test_fit_ceilings_use_each_masks_own_factor():
    a = np.zeros((64, 128), dtype=np.int64)
    a[:, 64:] = 1
    b = np.zeros((32, 32), dtype=np.int64)
    b[16:] = 1
    s = measure_structures([a, b], 2, [FIT], patch=32)
    assert s.classes[1].ceilings[FIT] == pytest.approx(1.0, abs=1e-3)


def test_layout_offsets_say_where_classes_sit():
    top = np.zeros((40, 40), dtype=np.int64)
    top[:20] = 1  # class 1 (a sky) on top: mean row 0.25 of the height
    s = measure_structures([top], 2, [0.5], patch=32)
    assert s.vertical_offset == pytest.approx(0.25) and s.horizontal_offset == pytest.approx(0.0)
    speckle = (np.indices((40, 40)).sum(axis=0) % 2).astype(np.int64)  # a checkerboard: everywhere
    assert measure_structures([speckle], 2, [0.5], patch=32).vertical_offset < 0.02


def test_ignored_pixels_do_not_count_in_ceilings():
    m = np.zeros((32, 32), dtype=np.int64)
    m[:16] = 1
    m[:, 0] = 255
    s = measure_structures([m], 2, [0.5], patch=32, ignore_index=255)
    assert s.classes[0].ceilings["0.5"] == pytest.approx(1.0, abs=1e-3)


def test_evenly_spaced_and_keys():
    assert evenly_spaced(list(range(10)), 5) == [0, 2, 4, 6, 8]
    assert evenly_spaced([1, 2], 5) == [1, 2]
    assert scale_key(0.70710678) == "0.7071" and scale_key(FIT) == FIT and scale_key(HALF_FIT) == HALF_FIT
    assert half_of(FIT) == HALF_FIT and half_of(0.5) == 0.25
    with pytest.raises(ValueError):
        half_of(HALF_FIT)


def test_half_fit_fits_each_image_into_half_the_patch():
    lines = np.zeros((64, 128), dtype=np.int64)
    lines[:, 0::8] = lines[:, 1::8] = 1  # 2-pixel lines every 8 px: 1 px wide at fit (patch 64), 1/2 at half
    s = measure_structures([lines], 2, [FIT, HALF_FIT, 0.5, 0.25], patch=64)
    ceilings = s.classes[1].ceilings
    assert ceilings[HALF_FIT] == pytest.approx(ceilings["0.25"])  # 128 -> 32 either way
    assert ceilings[FIT] == pytest.approx(ceilings["0.5"])
    assert ceilings[HALF_FIT] < ceilings[FIT]


def test_fill_stretches_each_mask_to_the_patch():
    rows = np.zeros((64, 128), dtype=np.int64)
    rows[0::8] = rows[1::8] = 1  # 2-row lines: half a row at fit (64 x 128 -> 16 x 32), one when filled (32 x 32)
    s = measure_structures([rows], 2, [FIT, FILL, HALF_FILL], patch=32)
    ceilings = s.classes[1].ceilings
    assert ceilings[FILL] > ceilings[FIT]
    assert ceilings[HALF_FILL] == pytest.approx(ceilings[FIT])  # 16 x 16 keeps as many rows as 16 x 32
    assert half_of(FILL) == HALF_FILL
