"""WindowedPair: the pair source of large TIFFs gives what the in-memory path gives, in bounded memory."""

from __future__ import annotations

import pickle
import tracemalloc

import numpy as np
import pytest

from helpers.tiffs import LAYOUTS, class_mask, smooth_image, write_tiff
from segtrain.data import windows
from segtrain.data.discovery import Sample
from segtrain.data.labels import LabelSpec, read_labels
from segtrain.data.readers import read_image
from segtrain.data.loaders.sources import draw_patch
from segtrain.data.loaders.windowed import BLOCK, windowed_pair
from segtrain.errors import UserError


def _pair_files(tmp_path, image, mask, layout="contiguous"):
    image_path = write_tiff(tmp_path / "images" / "a.tif", image[..., 0] if image.shape[-1] == 1 else image, layout)
    return Sample("a", image_path, write_tiff(tmp_path / "masks" / "a.tif", mask, layout))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("channels, dtype", [(1, np.uint8), (3, np.uint16)])
def test_stats_and_crops_equal_the_in_memory_path(tmp_path, monkeypatch, layout, channels, dtype):
    monkeypatch.setattr(windows, "STRIP_BYTES", 20_000)  # many strips
    sample = _pair_files(tmp_path, smooth_image(300, 290, channels, dtype), class_mask(300, 290) * 100, layout)
    spec = LabelSpec({0: 0, 100: 1, 200: 2})
    pair = windowed_pair(sample, spec)
    image, labels = read_image(sample.image), read_labels(sample, spec)

    x = np.moveaxis(image, -1, 0).astype(np.float32)  # as normalize computes them
    assert np.allclose(pair.mean, x.mean(axis=(1, 2)), rtol=1e-5, atol=0)
    assert np.allclose(pair.std, x.std(axis=(1, 2)), rtol=1e-5, atol=0)
    assert pair.mean.dtype == pair.std.dtype == np.float32 and pair.mean.shape == (channels,)
    assert (pair.height, pair.width) == (300, 290)
    assert pair.classes.tolist() == [0, 1, 2] and pair.classes.dtype == np.int64
    for top, left, size in [(0, 0, 64), (236, 226, 64), (100, 37, 100), (5, 250, 40)]:
        crop, crop_labels = pair.crop(top, left, size)
        assert crop.dtype == image.dtype and crop_labels.dtype == np.int64
        assert np.array_equal(crop, image[top:top + size, left:left + size])
        assert np.array_equal(crop_labels, labels[top:top + size, left:left + size])
    with pytest.raises(ValueError, match="not inside"):
        pair.crop(250, 0, 64)


def test_locate_draws_pixels_of_the_class_uniformly(tmp_path):
    mask = np.zeros((600, 700), np.uint8)
    mask[10:12, 5:10] = 1  # 10 pixels in block (0, 0)
    mask[BLOCK + 3:BLOCK + 9, 2 * BLOCK + 1:2 * BLOCK + 6] = 1  # 30 pixels in block (1, 2)
    mask[590:600, 690:700] = 2  # the last, partial block
    mask[300, 300] = 255
    sample = _pair_files(tmp_path, smooth_image(600, 700, 1), mask)
    pair = windowed_pair(sample, LabelSpec({0: 0, 1: 1, 2: 2, 255: 255}), ignore_index=255)
    assert pair.classes.tolist() == [0, 1, 2]  # the ignore value is no class to centre on
    assert windowed_pair(sample, LabelSpec({0: 0, 1: 1, 2: 2, 255: 255})).classes.tolist() == [0, 1, 2, 255]
    rng = np.random.default_rng(0)
    draws = [pair.locate(1, rng) for _ in range(1000)]
    assert all(mask[r, c] == 1 for r, c in draws)
    assert len(set(draws)) == 40  # every pixel of the class is drawn
    assert 0.2 < np.mean([r < BLOCK for r, _ in draws]) < 0.3  # 10 of its 40 pixels
    assert all(mask[pair.locate(2, rng)] == 2 and mask[pair.locate(0, rng)] == 0 for _ in range(50))
    with pytest.raises(ValueError, match="class 7"):
        pair.locate(7, rng)
    x, y = draw_patch(pair, 64, np.random.default_rng(3), rare_class_share=1.0)  # the lead's drawing works on it
    assert x.shape == (1, 64, 64) and x.dtype == np.float32 and y.shape == (64, 64)


def test_pickles_without_open_files_and_reopens(tmp_path):
    sample = _pair_files(tmp_path, smooth_image(100, 120, 3), class_mask(100, 120), "tiled-zlib")
    pair = windowed_pair(sample, LabelSpec({0: 0, 1: 1, 2: 2}))
    before = pair.crop(10, 20, 50)
    copy = pickle.loads(pickle.dumps(pair))  # after a crop opened the files
    assert copy._image is None
    after = copy.crop(10, 20, 50)
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    pair.close()
    copy.close()


def test_refusals_name_the_file_and_the_fix(tmp_path):
    from PIL import Image

    sample = _pair_files(tmp_path, smooth_image(40, 40, 1), class_mask(40, 40))
    with pytest.raises(UserError, match=r"masks/a\.tif: multilabel masks .* cut the image"):
        windowed_pair(sample, LabelSpec({0: 0, 1: 1}, multilabel=("a", "b")))
    with pytest.raises(UserError, match=r"masks/a\.tif: mask values 2 are not in the label mapping"):
        windowed_pair(sample, LabelSpec({0: 0, 1: 1}))
    png = tmp_path / "masks" / "b.png"
    Image.fromarray(class_mask(40, 40)).save(png)
    with pytest.raises(UserError, match=r"b\.png: .* must be a TIFF"):
        windowed_pair(Sample("a", sample.image, png), LabelSpec({0: 0, 1: 1, 2: 2}))
    small = write_tiff(tmp_path / "masks" / "c.tif", class_mask(30, 40))
    with pytest.raises(UserError, match=r"c\.tif: size 30x40 \(HxW\) differs from its image"):
        windowed_pair(Sample("a", sample.image, small), LabelSpec({0: 0, 1: 1, 2: 2}))


@pytest.mark.parametrize("tiles", [None, (128, 128)])
def test_memory_is_bounded_by_a_strip_not_the_image(tmp_path, monkeypatch, tiles):
    import tifffile

    import segtrain.data.check.dataset  # noqa: F401 - imported before measuring

    side = 4000
    image = np.zeros((side, side), np.uint8)
    image[::7] = 200
    mask = np.zeros((side, side), np.uint8)
    mask[1000:1040, 2000:2300] = 1
    layout = {"tile": tiles, "compression": "zlib"} if tiles else {}  # tiled: one row of tiles per file is kept
    for name, data in (("big.tif", image), ("big_m.tif", mask)):
        tifffile.imwrite(tmp_path / name, data, **layout)
    sample = Sample("big", tmp_path / "big.tif", tmp_path / "big_m.tif")
    del image, mask
    monkeypatch.setattr(windows, "STRIP_BYTES", 2**20)
    tracemalloc.start()
    try:
        pair = windowed_pair(sample, LabelSpec({0: 0, 1: 1}))
        rng = np.random.default_rng(0)
        for _ in range(10):
            x, y = draw_patch(pair, 256, rng, rare_class_share=0.5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < side * side / 4, f"numpy arrays peaked at {peak / 2**20:.1f} MiB"
    assert pair.classes.tolist() == [0, 1]
    assert abs(float(pair.mean[0]) - 200 * (np.arange(side) % 7 == 0).mean()) < 1e-3
