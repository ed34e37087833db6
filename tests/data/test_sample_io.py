"""Tests for segtrain.data.sample_io: a sample's page, per-object masks and region of interest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from segtrain.data.discovery import Sample
from segtrain.data.label_mapping import IGNORE_LABEL
from segtrain.data.labels import LabelSpec, read_labels
from segtrain.data.readers import ReadError
from segtrain.data.sample_io import merge_instances, read_roi, read_sample_image, read_sample_mask, refuse_windowed
from segtrain.errors import UserError


def _stack(tmp_path: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    images = np.arange(3 * 8 * 10, dtype=np.uint16).reshape(3, 8, 10) * 7
    masks = np.zeros((3, 8, 10), np.uint8)
    for k in range(3):
        masks[k, k:k + 2] = 1  # page k: rows k and k+1 are foreground
    tifffile.imwrite(tmp_path / "img.tif", images, photometric="minisblack")
    tifffile.imwrite(tmp_path / "mask.tif", masks, photometric="minisblack")
    return tmp_path / "img.tif", tmp_path / "mask.tif", images, masks


def test_a_page_of_a_stack_is_read_alone(tmp_path) -> None:
    image, mask, images, masks = _stack(tmp_path)
    sample = Sample("img_p1", image, mask, page=1)
    np.testing.assert_array_equal(read_sample_image(sample)[..., 0], images[1])
    np.testing.assert_array_equal(read_sample_mask(sample), masks[1])
    labels = read_labels(sample, LabelSpec({0: 0, 1: 1}))
    assert labels.dtype == np.int64 and labels[1:3].all() and not labels[0].any() and not labels[3:].any()


def test_a_page_past_the_end_names_the_file(tmp_path) -> None:
    image, mask, _, _ = _stack(tmp_path)
    with pytest.raises(ReadError, match=r"img.tif: has 3 page\(s\), no page 5"):
        read_sample_image(Sample("x", image, mask, page=5))


def test_instances_merge_into_one_semantic_mask(tmp_path) -> None:
    first, second = np.zeros((6, 6), np.uint8), np.zeros((6, 6), np.uint8)
    first[0:2, 0:2] = 255
    second[3:6, 3:5] = 255
    paths = []
    for name, arr in (("a.png", first), ("b.png", second)):
        Image.fromarray(arr).save(tmp_path / name)
        paths.append(tmp_path / name)
    merged = merge_instances(paths)
    assert merged.dtype == np.uint8 and int(merged.sum()) == 4 + 6  # 2x2 and 3x2 objects, 1 each
    sample = Sample("s", tmp_path / "img.png", paths[0], instances=tuple(paths))
    np.testing.assert_array_equal(read_sample_mask(sample), merged)
    np.testing.assert_array_equal(read_sample_mask(sample, colour=True), merged.astype(np.int32) * 65793)


def test_instances_of_different_sizes_are_refused(tmp_path) -> None:
    Image.fromarray(np.zeros((6, 6), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((5, 6), np.uint8)).save(tmp_path / "b.png")
    with pytest.raises(ReadError, match=r"b.png: size 5x6 \(HxW\) differs from the other object masks"):
        merge_instances([tmp_path / "a.png", tmp_path / "b.png"])


def test_pixels_outside_the_roi_are_ignored(tmp_path) -> None:
    mask = np.zeros((4, 5), np.uint8)
    mask[:, 2:] = 1
    roi = np.zeros((4, 5), np.uint8)
    roi[1:3, 1:4] = 255  # DRIVE-like field of view: 6 pixels inside
    Image.fromarray(mask).save(tmp_path / "m.png")
    Image.fromarray(roi).save(tmp_path / "roi.gif")  # DRIVE ships its fields of view as GIF
    sample = Sample("s", tmp_path / "img.png", tmp_path / "m.png", roi=tmp_path / "roi.gif")
    inside = read_roi(sample, (4, 5))
    assert inside.sum() == 6
    labels = read_labels(sample, LabelSpec({0: 0, 1: 1}))
    expected = np.full((4, 5), IGNORE_LABEL)
    expected[1:3, 1:4] = [[0, 1, 1], [0, 1, 1]]
    np.testing.assert_array_equal(labels, expected)
    assert read_roi(Sample("s", tmp_path / "img.png", tmp_path / "m.png")) is None


def test_a_roi_of_another_size_names_both_files(tmp_path) -> None:
    Image.fromarray(np.ones((4, 4), np.uint8)).save(tmp_path / "roi.png")
    sample = Sample("s", tmp_path / "img.png", tmp_path / "m.png", roi=tmp_path / "roi.png")
    with pytest.raises(ReadError, match=r"roi.png: region of interest of size 4x4 \(HxW\) differs from its mask"):
        read_roi(sample, (4, 5))


def test_windows_refuse_pages_instances_and_rois(tmp_path) -> None:
    refuse_windowed(Sample("s", tmp_path / "i.tif", tmp_path / "m.tif"))  # a plain pair: read by windows
    for extra, what in (({"page": 0}, "a page"), ({"instances": (tmp_path / "o.png",)}, "per-object masks"),
                        ({"roi": tmp_path / "r.png"}, "a region of interest")):
        with pytest.raises(UserError, match=f"i.tif: too large for memory.*cannot read {what}"):
            refuse_windowed(Sample("s", tmp_path / "i.tif", tmp_path / "m.tif", **extra))
