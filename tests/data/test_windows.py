"""Window readers (segtrain.data.windows) give read_image's and read_mask's values, window by window."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.tiffs import LAYOUTS, class_mask, smooth_image, write_tiff
from segtrain.data import windows
from segtrain.data.readers import ColourMaskError, read_image, read_mask
from segtrain.errors import UserError

WINDOWS = [(0, 0, 1, 1), (0, 0, 101, 133), (5, 40, 30, 50), (70, 90, 31, 43), (31, 47, 2, 2), (100, 0, 1, 133)]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("channels, dtype", [(1, np.uint8), (3, np.uint16), (3, np.uint8)])
def test_window_equals_the_window_of_read_image(tmp_path, layout, channels, dtype):
    image = smooth_image(101, 133, channels, dtype)
    path = write_tiff(tmp_path / "x.tif", image[..., 0] if channels == 1 else image, layout)
    whole = read_image(path)
    with windows.open_windows(path) as reader:
        assert reader.shape == whole.shape
        for top, left, h, w in WINDOWS:
            window = reader.window(top, left, h, w)
            assert window.dtype == whole.dtype
            assert np.array_equal(window, whole[top:top + h, left:left + w])
        assert np.array_equal(reader.rows(10, 60), whole[10:60])
        with pytest.raises(ValueError, match="outside the image"):
            reader.window(100, 0, 2, 1)


def test_tiled_window_decodes_only_the_tiles_it_overlaps(tmp_path):
    path = write_tiff(tmp_path / "t.tif", smooth_image(101, 133, 1)[..., 0], "tiled-zlib")  # tiles 32 x 48
    with windows.open_windows(path) as reader:
        reader.window(40, 50, 20, 40)  # rows 40-59 (tile row 1), columns 50-89 (tile column 1)
        assert sorted(reader._cache) == [1 * 3 + 1]
        reader.window(30, 40, 10, 10)  # rows 30-39, columns 40-49: tile rows 0-1, columns 0-1
        assert sorted(reader._cache) == [0, 1, 3, 4]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_mask_windows_equal_read_mask(tmp_path, layout):
    gray = class_mask(70, 90) * 100
    wide = class_mask(70, 90).astype(np.uint16) * 20000
    colours = np.array([[0, 0, 0], [255, 0, 0], [0, 128, 255]], np.uint8)[class_mask(70, 90)]
    for name, mask, colour in [("gray", gray, False), ("wide", wide, False), ("rgb", colours, True),
                               ("gray-as-colour", gray, True)]:
        path = write_tiff(tmp_path / f"{name}.tif", mask, layout)
        whole = read_mask(path, colour=colour)
        with windows.open_mask_windows(path, colour=colour) as reader:
            assert reader.shape == whole.shape
            for top, left, h, w in [(0, 0, 70, 90), (13, 29, 40, 33)]:
                window = reader.window(top, left, h, w)
                assert np.array_equal(window, whole[top:top + h, left:left + w]), name
    with windows.open_mask_windows(tmp_path / "rgb.tif") as reader, pytest.raises(ColourMaskError):
        reader.rows(0, 70)


def test_masks_read_by_windows_must_be_one_page_tiffs(tmp_path):
    from PIL import Image

    png = tmp_path / "m.png"
    Image.fromarray(class_mask(20, 20)).save(png)
    with pytest.raises(UserError, match=r"m\.png: .* must be a TIFF.*save it as m\.tif"):
        windows.open_mask_windows(png)
    import tifffile

    tifffile.imwrite(tmp_path / "pages.tif", np.zeros((2, 20, 20), np.uint8), photometric="minisblack",
                     compression="zlib", metadata=None)
    with pytest.raises(UserError, match="pages.tif: multi-page TIFF mask"):
        windows.open_mask_windows(tmp_path / "pages.tif")


def test_is_large_by_threshold_and_environment(tmp_path, monkeypatch):
    from PIL import Image

    tif = write_tiff(tmp_path / "a.tif", smooth_image(40, 50, 3))
    Image.fromarray(smooth_image(40, 50, 3)).save(tmp_path / "a.png")
    decoded = 40 * 50 * 3 * 4
    monkeypatch.delenv(windows.WINDOW_BYTES_ENV, raising=False)
    monkeypatch.setattr(windows, "WINDOW_BYTES", decoded - 1)
    assert windows.is_large(tif) and windows.is_large(str(tif))
    assert not windows.is_large(tmp_path / "a.png")  # only TIFFs are read by windows
    monkeypatch.setattr(windows, "WINDOW_BYTES", decoded)
    assert not windows.is_large(tif)

    monkeypatch.setattr(windows, "WINDOW_BYTES", None)
    monkeypatch.setenv(windows.WINDOW_BYTES_ENV, str(decoded - 1))  # how command lines in tests lower it
    assert windows.is_large(tif)
    monkeypatch.setenv(windows.WINDOW_BYTES_ENV, "lots")
    with pytest.raises(UserError, match="SEGTRAIN_WINDOW_BYTES=lots"):
        windows.is_large(tif)
    monkeypatch.delenv(windows.WINDOW_BYTES_ENV)
    assert not windows.is_large(tif)  # a 24 KB image is far below 1/16 of any machine's memory


def test_moments_combine_strips_exactly():
    rng = np.random.default_rng(0)
    x = rng.normal(100, 20, (57, 31, 3)).astype(np.float32)
    moments = windows.Moments()
    for start in range(0, 57, 5):
        moments.add(x[start:start + 5])
    assert np.allclose(moments.mean, x.astype(np.float64).mean(axis=(0, 1)), rtol=1e-12)
    assert np.allclose(moments.std, x.astype(np.float64).std(axis=(0, 1)), rtol=1e-12)
    mean, std = moments.overall()
    assert mean == pytest.approx(float(x.astype(np.float64).mean()), rel=1e-12)
    assert std == pytest.approx(float(x.astype(np.float64).std()), rel=1e-12)
    assert (moments.low, moments.high) == (float(x.min()), float(x.max()))


def test_read_dtype_follows_read_image(tmp_path):
    import tifffile

    for stored, values in [(np.int16, [0, 300]), (np.int16, [-5, 300]), (np.uint32, [0, 70000]), (np.uint8, [0, 9])]:
        arr = np.array(values * 50, dtype=stored).reshape(10, 10)
        tifffile.imwrite(tmp_path / "d.tif", arr)
        assert windows.read_dtype(np.dtype(stored), min(values), max(values)) == read_image(tmp_path / "d.tif").dtype
