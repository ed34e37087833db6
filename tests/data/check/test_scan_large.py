"""`segtrain check` on TIFFs too large for memory: read strip by strip, the same report as in memory."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers.tiffs import class_mask, smooth_image, tiff_dataset
from segtrain.data import windows
from segtrain.data.check import dataset as checks
from segtrain.data.check import scan as scans


def _both_ways(root, monkeypatch, num_classes=None):
    """The report in memory, then with every image counted as large and whole reads forbidden."""
    monkeypatch.setattr(windows, "STRIP_BYTES", 30_000)  # many strips
    monkeypatch.setattr(windows, "WINDOW_BYTES", 1 << 60)
    small = checks.check_dataset(root, num_classes)

    def whole(*args, **kwargs):
        raise AssertionError("a large file was read whole")

    with monkeypatch.context() as patch:
        patch.setattr(windows, "WINDOW_BYTES", 1)
        patch.setattr(scans, "read_sample_image", whole)
        patch.setattr(scans, "read_sample_mask", whole)
        large = checks.check_dataset(root, num_classes)
    return small, large


def _assert_same(small, large):
    notice = [n for n in large.notices if "too large to hold in memory" in n]
    assert len(notice) == 1 and notice[0].startswith(f"{large.n_pairs} image")  # says they are read by windows
    large.notices.remove(notice[0])
    assert large.to_dict() == small.to_dict()
    assert large.class_pixels_per_image == small.class_pixels_per_image
    assert large.intensity.keys() == small.intensity.keys()
    for stem, values in small.intensity.items():
        assert large.intensity[stem] == pytest.approx(values, rel=1e-5), stem


def test_binary_gray_set_with_mixed_layouts_and_depths(tmp_path, monkeypatch):
    specs = [
        {"stem": "a", "image": smooth_image(120, 150, 1, np.uint8, 1), "mask": (class_mask(120, 150, 2, 1) * 255),
         "layout": "contiguous"},
        {"stem": "b", "image": smooth_image(97, 130, 1, np.uint16, 2), "mask": (class_mask(97, 130, 2, 2) * 255),
         "layout": "tiled-zlib"},
        {"stem": "c", "image": smooth_image(64, 80, 1, np.uint8, 3), "mask": (class_mask(64, 80, 2, 3) * 255),
         "layout": "tiled-zlib", "mask_layout": "contiguous"},
    ]
    small, large = _both_ways(tiff_dataset(tmp_path / "data", specs), monkeypatch)
    assert small.ok and small.mask_format == "binary 0/255" and any("pixel types" in n for n in small.notices)
    _assert_same(small, large)


def test_index_masks_with_problems_rgb_images(tmp_path, monkeypatch):
    ids = np.array([0, 3, 7], np.uint8)
    specs = [
        {"stem": "a", "image": smooth_image(110, 90, 3, np.uint16, 1), "mask": ids[class_mask(110, 90, 3, 1)]},
        {"stem": "b", "image": smooth_image(100, 140, 3, np.uint8, 2), "mask": ids[class_mask(100, 140, 3, 2)],
         "layout": "tiled-zlib"},
        {"stem": "c", "image": smooth_image(70, 80, 3, np.uint8, 3), "mask": ids[class_mask(60, 80, 3, 3)]},
    ]
    small, large = _both_ways(tiff_dataset(tmp_path / "data", specs), monkeypatch)
    assert any("c.tif: size 60x80" in p for p in small.problems)
    assert small.label_mapping == {0: 0, 3: 1, 7: 2}
    _assert_same(small, large)
    _assert_same(*_both_ways(tmp_path / "data", monkeypatch, num_classes=3))


def test_colour_coded_masks_with_and_without_classes_json(tmp_path, monkeypatch):
    palette = np.array([[0, 0, 0], [255, 0, 0], [0, 128, 255]], np.uint8)
    specs = [
        {"stem": s, "image": smooth_image(80, 96, 3, np.uint8, k), "mask": palette[class_mask(80, 96, 3, k)],
         "layout": layout}
        for k, (s, layout) in enumerate([("a", "contiguous"), ("b", "tiled-zlib")])
    ]
    root = tiff_dataset(tmp_path / "data", specs)
    small, large = _both_ways(root, monkeypatch)
    assert not small.ok and small.colours  # no classes.json: the colours found, listed
    _assert_same(small, large)
    (root / "classes.json").write_text(json.dumps({"bg": [0, 0, 0], "red": [255, 0, 0], "sky": [0, 128, 255]}))
    small, large = _both_ways(root, monkeypatch)
    assert small.ok and small.colour_masks
    _assert_same(small, large)


def test_a_large_image_needs_a_tiff_mask(tmp_path, monkeypatch):
    from PIL import Image

    root = tiff_dataset(tmp_path / "data", [{"stem": "a", "image": smooth_image(40, 50, 1), "mask": class_mask(40, 50, 2)}])
    (root / "masks" / "a.tif").unlink()
    Image.fromarray(class_mask(40, 50, 2)).save(root / "masks" / "a.png")
    monkeypatch.setattr(windows, "WINDOW_BYTES", 1)
    report = checks.check_dataset(root)
    assert any("a.png: the mask of an image too large for memory must be a TIFF" in p for p in report.problems)
