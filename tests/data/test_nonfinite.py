"""The readers' refusals, unit by unit: NaN/inf pixels (also read by windows), entries that are not
regular files (never opened), headers that lie, codecs that are missing, and repeated problems summarised."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest
import tifffile

from segtrain.data.check.report import summarise_repeats
from segtrain.data.headers import header_lie, not_regular
from segtrain.data.readers import NonFiniteError, ReadError, finite_pixels, read_image


def _float_tiff(path, arr):
    tifffile.imwrite(path, np.asarray(arr, np.float32))
    return path


def test_nan_and_inf_pixels_are_counted_and_refused(tmp_path):
    arr = np.zeros((4, 4), np.float32)
    arr[0, 0], arr[1, 1], arr[2, 2] = np.nan, np.inf, -np.inf
    with pytest.raises(NonFiniteError) as info:
        read_image(_float_tiff(tmp_path / "a.tif", arr))
    assert info.value.count == 3 and info.value.total == 16
    assert "a.tif: 3 of 16 pixel values are NaN or infinite" in str(info.value)


def test_an_all_nan_image_says_so(tmp_path):
    with pytest.raises(NonFiniteError, match="every pixel is NaN or infinite"):
        read_image(_float_tiff(tmp_path / "a.tif", np.full((4, 4), np.nan)))


def test_nan_as_replaces_every_non_finite_value(tmp_path):
    arr = np.ones((4, 4), np.float32)
    arr[0, 0], arr[3, 3] = np.nan, -np.inf
    image = read_image(_float_tiff(tmp_path / "a.tif", arr), nan_as=0.0)
    assert np.isfinite(image).all() and image[0, 0, 0] == 0 and image[3, 3, 0] == 0 and image[1, 1, 0] == 1


def test_integer_images_pass_untouched():
    arr = np.arange(6, dtype=np.uint16).reshape(2, 3)
    assert finite_pixels("x.png", arr) is arr


def test_windows_refuse_nan_too(tmp_path):
    from segtrain.data.windows import open_windows

    arr = np.ones((16, 16), np.float32)
    arr[9, 9] = np.nan
    with open_windows(_float_tiff(tmp_path / "a.tif", arr)) as windows:
        windows.rows(0, 8)  # finite rows read as they are
        with pytest.raises(NonFiniteError):
            windows.rows(8, 16)


@pytest.mark.parametrize("make,kind", [
    (lambda p: p.mkdir(), "a folder"),
    (lambda p: os.mkfifo(p), "FIFO"),
    (lambda p: p.symlink_to(p.parent / "gone.png"), "broken symbolic link"),
])
def test_not_regular_files_are_named_without_opening_them(tmp_path, make, kind):
    path = tmp_path / "0003.png"
    make(path)
    assert kind in not_regular(path)
    with pytest.raises(ReadError, match="not a regular file") as info:
        read_image(path)  # a FIFO would block here if it were opened
    assert "0003.png" in str(info.value)


def test_missing_and_regular(tmp_path):
    assert not_regular(tmp_path / "none.png") == "missing"
    (tmp_path / "a.png").write_bytes(b"x")
    assert not_regular(tmp_path / "a.png") is None


def test_a_png_header_that_lies(tmp_path):
    ihdr = struct.pack(">IIBBBBB", 31623, 31623, 8, 0, 0, 0, 0)
    path = tmp_path / "a.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\0\0\0\0")
    assert "31623x31623" in header_lie(path)
    with pytest.raises(ReadError, match="corrupt: its header claims 31623x31623 pixels"):
        read_image(path)


def test_honest_headers_pass(tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((2000, 2000), np.uint8)).save(tmp_path / "zeros.png", optimize=True)  # ~1000:1
    Image.fromarray(np.full((300, 400, 3), 7, np.uint8)).save(tmp_path / "flat.jpg")
    tifffile.imwrite(tmp_path / "zeros.tif", np.zeros((500, 500), np.uint8), compression="zlib")
    for name in ("zeros.png", "flat.jpg", "zeros.tif"):
        assert header_lie(tmp_path / name) is None, name


def test_a_missing_codec_is_not_called_corrupt(tmp_path):
    pytest.importorskip("tifffile")
    try:
        import imagecodecs  # noqa: F401
        pytest.skip("imagecodecs is installed")
    except ImportError:
        pass
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, np.zeros((8, 8), np.uint8), compression="zlib")
    raw = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages[0].tags["Compression"].valueoffset
    struct.pack_into("<H", raw, offset, 34712)
    path.write_bytes(bytes(raw))
    with pytest.raises(ReadError, match="codec that is not installed.*pip install imagecodecs"):
        read_image(path)


def test_repeats_are_summarised_per_folder_and_problem():
    lines = [f"d/images/x{i}.png: empty file (0 bytes); re-export the file or remove it" for i in range(100)]
    lines.insert(50, "d/masks/y.png: no image; add d/images/y.png or remove the mask")
    out = summarise_repeats(lines)
    assert out[:3] == lines[:3]
    assert out[3].startswith("d/images: ... and 97 more files with the same problem")
    assert out[4] == "d/masks/y.png: no image; add d/images/y.png or remove the mask" and len(out) == 5


def test_four_repeats_are_kept_whole():
    lines = [f"d/images/x{i}.png: empty file (0 bytes); fix" for i in range(4)]
    assert summarise_repeats(lines) == lines
