"""The denoising dataset: images/ alone, clean/ paired by stem, per-channel statistics."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from segtrain.data.denoise import channel_stats, discover_noisy
from segtrain.errors import UserError


def test_discovers_images_and_clean_partners(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "clean").mkdir()
    for i in range(3):
        tifffile.imwrite(tmp_path / "images" / f"{i}.tif", np.full((20, 30), 1000 * i, np.uint16))
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(tmp_path / "clean" / "1.png")
    found = discover_noisy(tmp_path)
    assert sorted(found.images) == ["0", "1", "2"] and list(found.clean) == ["1"]
    assert found.sizes["0"] == (20, 30) and found.channels == 1 and found.dtype == "uint16"


def test_stats_are_per_channel(tmp_path):
    a = np.zeros((2, 2, 3), np.float32)
    a[..., 1] = 10
    a[0, :, 2], a[1, :, 2] = 0, 4  # mean 2, std 2
    tifffile.imwrite(tmp_path / "a.tif", a, photometric="rgb")
    mean, std = channel_stats([tmp_path / "a.tif"])
    assert mean == pytest.approx([0, 10, 2]) and std[2] == pytest.approx(2.0)


def test_missing_images_folder_is_one_line(tmp_path):
    with pytest.raises(UserError, match="images"):
        discover_noisy(tmp_path)
