"""Tests for segtrain.data.checks: whole-dataset checks and label inference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.datasets import make_dataset
from segtrain.data.checks import CheckReport, apply_label_mapping, check_dataset
from segtrain.data.readers import read_mask
from segtrain.errors import UserError


def _mask(root: Path, stem: str) -> Path:
    return root / "masks" / f"{stem}.png"


def _image(root: Path, stem: str) -> Path:
    return root / "images" / f"{stem}.png"


def _write_mask(path: Path, values: np.ndarray) -> None:
    Image.fromarray(values.astype(np.uint8)).save(path)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _counts(root: Path, num_classes: int, mapping=None) -> list[int]:
    total = np.zeros(num_classes, np.int64)
    for path in sorted((root / "masks").iterdir()):
        mask = read_mask(path)
        if mapping:
            mask = apply_label_mapping(mask, mapping)
        total += np.bincount(mask.ravel(), minlength=num_classes)
    return total.tolist()


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()}


# --- valid sets -------------------------------------------------------------------------

def test_valid_binary_set(tiny_dataset: Path) -> None:
    report = check_dataset(tiny_dataset)
    assert isinstance(report, CheckReport)
    assert report.ok and report.problems == []
    assert report.n_pairs == 6
    assert report.num_classes == 2
    assert report.channels == 1
    assert report.label_mapping == {0: 0, 1: 1}
    assert report.sizes == {f"img_{i:03d}": (32, 48) for i in range(6)}
    assert report.class_pixels == _counts(tiny_dataset, 2)
    assert sum(report.class_pixels) == 6 * 32 * 48
    assert all(n > 0 for n in report.class_pixels)
    assert any("2 classes inferred" in n for n in report.notices)


def test_valid_rgb_multiclass_set(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", n=4, size=(24, 40), channels=3, classes=4)
    report = check_dataset(root)
    assert report.ok, report.problems
    assert report.channels == 3
    assert report.num_classes == 4
    assert report.label_mapping == {0: 0, 1: 1, 2: 2, 3: 3}
    assert report.class_pixels == _counts(root, 4)
    assert any("4 classes inferred" in n for n in report.notices)


@pytest.mark.parametrize("kwargs", [
    {"mask_style": "palette", "classes": 3},
    {"image_ext": ".tif", "bits": 16},
    {"image_ext": ".jpg", "channels": 3},
    {"mask_ext": ".tif", "classes": 3},
])
def test_helper_variants_are_valid(tmp_path: Path, kwargs) -> None:
    root = make_dataset(tmp_path / "d", n=3, **kwargs)
    report = check_dataset(root)
    assert report.ok, report.problems
    assert report.num_classes == kwargs.get("classes", 2)
    assert report.channels == kwargs.get("channels", 1)


def test_255_masks_give_mapping_and_notice(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", n=5, mask_style="255")
    report = check_dataset(root)
    assert report.ok, report.problems
    assert report.num_classes == 2
    assert report.label_mapping == {0: 0, 255: 1}
    assert "5 masks hold 0/255: read as 0/1" in report.notices
    assert report.class_pixels == _counts(root, 2, {0: 0, 255: 1})


def test_many_pairs_use_the_parallel_path(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", n=20, size=(16, 16), mask_style="255")
    report = check_dataset(root)
    assert report.ok and report.n_pairs == 20 and len(report.sizes) == 20
    assert report.class_pixels == _counts(root, 2, {0: 0, 255: 1})


def test_to_dict_is_json_serialisable(tiny_dataset: Path) -> None:
    data = json.loads(json.dumps(check_dataset(tiny_dataset).to_dict()))
    assert data["ok"] is True
    assert data["root"] == str(tiny_dataset)
    assert data["num_classes"] == 2
    assert data["sizes"]["img_000"] == [32, 48]
    assert data["label_mapping"] == {"0": 0, "1": 1}


# --- broken sets: one problem each ------------------------------------------------------

def test_missing_mask(tiny_dataset: Path) -> None:
    _mask(tiny_dataset, "img_001").unlink()
    report = check_dataset(tiny_dataset)
    assert not report.ok
    assert len(report.problems) == 1
    assert report.problems[0].startswith(f"{_image(tiny_dataset, 'img_001')}: no mask; ")
    assert report.n_pairs == 5


def test_mask_without_image(tiny_dataset: Path) -> None:
    _image(tiny_dataset, "img_002").unlink()
    report = check_dataset(tiny_dataset)
    assert report.problems == [
        f"{_mask(tiny_dataset, 'img_002')}: no image; "
        f"add {_image(tiny_dataset, 'img_002')} or remove the mask"
    ]


@pytest.mark.parametrize("which", ["images", "masks"])
def test_truncated_png(tiny_dataset: Path, which: str) -> None:
    path = tiny_dataset / which / "img_003.png"
    _truncate(path)
    report = check_dataset(tiny_dataset)
    assert len(report.problems) == 1
    assert report.problems[0].startswith(f"{path}: truncated or corrupt file")
    assert report.num_classes == 2


def test_empty_file(tiny_dataset: Path) -> None:
    path = _mask(tiny_dataset, "img_000")
    path.write_bytes(b"")
    report = check_dataset(tiny_dataset)
    assert report.problems == [f"{path}: empty file (0 bytes); re-export the file or remove it"]


def test_mask_of_different_size(tiny_dataset: Path) -> None:
    mask = _mask(tiny_dataset, "img_004")
    _write_mask(mask, np.zeros((30, 40)))
    report = check_dataset(tiny_dataset)
    assert report.problems == [
        f"{mask}: size 30x40 (HxW) differs from its image {_image(tiny_dataset, 'img_004')} "
        "(32x48); resize or re-export the mask"
    ]
    assert report.sizes["img_004"] == (32, 48)


def test_outlier_mask_in_binary_set(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", n=10)
    bad = _mask(root, "img_007")
    _write_mask(bad, np.arange(32 * 48).reshape(32, 48) % 6)
    report = check_dataset(root)
    assert report.num_classes == 2
    assert report.problems == [
        f"{bad}: values 2, 3, 4, 5 outside the classes {{0, 1}} of the other 9 masks; "
        "fix the mask or pass --num-classes 6"
    ]
    # the bad mask does not count towards the class pixels
    assert sum(report.class_pixels) == 9 * 32 * 48


def test_two_masks_one_multiclass_is_a_multiclass_set(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", n=2)
    _write_mask(_mask(root, "img_000"), np.arange(32 * 48).reshape(32, 48) % 6)
    report = check_dataset(root)
    assert report.ok, report.problems
    assert report.num_classes == 6
    assert report.label_mapping == {i: i for i in range(6)}


def test_multiclass_set_with_255_does_not_crash(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", n=2, mask_style="255")
    _write_mask(_mask(root, "img_000"), np.arange(32 * 48).reshape(32, 48) % 3)
    report = check_dataset(root)
    assert report.num_classes == 256
    assert report.label_mapping[255] == 255
    assert not any("read as 0/1" in n for n in report.notices)
    assert sum(report.class_pixels) == 2 * 32 * 48


def test_mixed_channel_counts_reported_once(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", n=10, channels=3)
    gray = [_image(root, "img_002"), _image(root, "img_006")]
    for path in gray:
        Image.open(path).convert("L").save(path)
    report = check_dataset(root)
    assert report.channels is None
    assert report.problems == [
        f"{root / 'images'}: mixed channel counts: 8 RGB, 2 gray (e.g. {gray[0]}); "
        "convert all images to one format"
    ]


def test_several_problems_are_all_reported(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", n=12)
    _mask(root, "img_000").unlink()                                    # image without mask
    orphan = root / "masks" / "zzz.png"
    _write_mask(orphan, np.zeros((32, 48)))                            # mask without image
    truncated = _image(root, "img_003")
    _truncate(truncated)                                               # truncated image
    small = _mask(root, "img_005")
    _write_mask(small, np.zeros((10, 10)))                             # size mismatch
    values = _mask(root, "img_008")
    _write_mask(values, np.full((32, 48), 4))                          # values outside
    report = check_dataset(root)
    assert not report.ok
    expected = [_image(root, "img_000"), orphan, truncated, small, values]
    for path in expected:
        assert sum(p.startswith(f"{path}: ") for p in report.problems) == 1, (path, report.problems)
    assert len(report.problems) == len(expected)


# --- num_classes given ------------------------------------------------------------------

def test_given_num_classes_flags_values_above_it(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", n=3, classes=3)
    report = check_dataset(root, num_classes=2)
    assert report.num_classes == 2
    assert report.problems == [
        f"{_mask(root, f'img_{i:03d}')}: values 2 outside the 2 classes (0..1); "
        "fix the mask or pass --num-classes 3"
        for i in range(3)
    ]


def test_given_num_classes_larger_than_needed(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", n=3, classes=3)
    report = check_dataset(root, num_classes=4)
    assert report.ok
    assert report.num_classes == 4
    assert report.class_pixels[3] == 0 and len(report.class_pixels) == 4
    assert report.class_pixels[:3] == _counts(root, 3)
    assert any("class 3 has no pixels" in n for n in report.notices)


def test_given_two_classes_with_255_masks(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", n=3, mask_style="255")
    report = check_dataset(root, num_classes=2)
    assert report.ok, report.problems
    assert report.label_mapping[255] == 1
    assert report.class_pixels == _counts(root, 2, {0: 0, 255: 1})


@pytest.mark.parametrize("bad", [1, 0, -3, 2.5, True])
def test_invalid_num_classes_raises(tiny_dataset: Path, bad) -> None:
    with pytest.raises(UserError, match="--num-classes"):
        check_dataset(tiny_dataset, num_classes=bad)


# --- never writes, fails cleanly on unusable folders -------------------------------------

def test_check_never_modifies_the_data(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", n=10, mask_style="255")
    truncated = _image(root, "img_001")
    _truncate(truncated)
    _write_mask(_mask(root, "img_002"), np.full((32, 48), 7))
    before = _snapshot(tmp_path)
    listing = sorted(str(p) for p in tmp_path.rglob("*"))
    check_dataset(root)
    check_dataset(root, num_classes=2)
    assert _snapshot(tmp_path) == before
    assert sorted(str(p) for p in tmp_path.rglob("*")) == listing  # nothing created either


def test_empty_images_folder_raises(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(UserError, match="no images"):
        check_dataset(tmp_path)


def test_missing_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such folder"):
        check_dataset(tmp_path / "missing")


# --- apply_label_mapping ----------------------------------------------------------------

def test_apply_label_mapping_maps_255() -> None:
    mask = np.array([[0, 255], [255, 0]], np.uint8)
    out = apply_label_mapping(mask, {0: 0, 255: 1})
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [[0, 1], [1, 0]])


def test_apply_label_mapping_unmapped_values() -> None:
    mask = np.array([0, 1, 7], np.uint16)
    with pytest.raises(ValueError, match="7"):
        apply_label_mapping(mask, {0: 0, 1: 1})
    np.testing.assert_array_equal(apply_label_mapping(mask, {0: 0, 1: 1}, default=-100), [0, 1, -100])


def test_apply_label_mapping_negative_and_huge_ranges() -> None:
    mask = np.array([-1, 0, 2_000_000_000], np.int32)
    out = apply_label_mapping(mask, {-1: 2, 0: 0, 2_000_000_000: 1})
    np.testing.assert_array_equal(out, [2, 0, 1])
    assert apply_label_mapping(np.zeros((0, 3), np.uint8), {0: 0}).shape == (0, 3)
