"""Tests for segtrain.data.check.dataset: whole-dataset checks and label inference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.datasets import make_dataset, write_pairs
from segtrain.data.check.dataset import check_dataset
from segtrain.data.check.report import CheckReport
from segtrain.data.label_mapping import apply_label_mapping
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


def test_multiclass_set_with_255_is_renumbered(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", n=2, mask_style="255")
    _write_mask(_mask(root, "img_000"), np.arange(32 * 48).reshape(32, 48) % 3)
    report = check_dataset(root)
    assert report.num_classes == 4
    assert report.label_mapping == {0: 0, 1: 1, 2: 2, 255: 3}
    assert not any("read as 0/1" in n for n in report.notices)
    assert "class ids 0, 1, 2, 255 are not consecutive: mapped to 0, 1, 2, 3" in " ".join(report.notices)
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

def test_given_num_classes_below_the_classes_held_is_one_problem(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", n=3, classes=3)
    report = check_dataset(root, num_classes=2)
    assert report.num_classes == 2
    assert report.problems == [
        f"{root / 'masks'}: the masks hold 3 classes (values 0, 1, 2) but --num-classes is 2; "
        f"pass --num-classes 3 or fix the masks (e.g. {_mask(root, 'img_000')} holds 2)"
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


# --- mask formats -----------------------------------------------------------------------

def _colour_mask(size=(32, 48)) -> np.ndarray:
    """Black background, a gray top band (most of the rest) and a small red square."""
    h, w = size
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[: h // 3] = (128, 128, 128)
    rgb[h // 2: h // 2 + 6, 4:10] = (255, 0, 0)
    return rgb


def _shares(root: Path, colours) -> list[float]:
    pixels = np.concatenate([np.asarray(Image.open(p).convert("RGB")).reshape(-1, 3)
                             for p in sorted((root / "masks").iterdir())])
    return [float(np.all(pixels == c, axis=1).mean()) for c in colours]


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({}, "binary"),
    ({"mask_style": "255"}, "binary 0/255"),
    ({"mask_style": "palette", "classes": 3}, "index"),
    ({"classes": 4}, "index"),
])
def test_mask_format_of_plain_sets(tmp_path: Path, kwargs, expected) -> None:
    report = check_dataset(make_dataset(tmp_path / "d", n=3, **kwargs))
    assert report.ok, report.problems
    assert report.mask_format == expected
    assert report.colour_masks is False and report.class_names is None
    assert report.colours == [] and report.lossy_share == 0.0


def test_colour_masks_without_classes_json_list_the_colours(tmp_path: Path) -> None:
    root = write_pairs(tmp_path / "d", {f"m{i}": _colour_mask() for i in range(4)})
    report = check_dataset(root)
    shares = _shares(root, [(0, 0, 0), (128, 128, 128), (255, 0, 0)])
    listed = ", ".join(f"{c} {100 * s:.1f}%" for c, s in zip(["(0, 0, 0)", "(128, 128, 128)", "(255, 0, 0)"], shares))
    assert report.problems == [
        f"{root / 'masks'}: 4 colour-coded RGB masks and no {root / 'classes.json'}; found 3 colours {listed}; "
        f'write {root / "classes.json"}, e.g. {{"class0": [0, 0, 0], "class1": [128, 128, 128], "class2": [255, 0, 0]}}'
    ]
    total = 4 * 32 * 48
    assert [rgb for rgb, _ in report.colours] == [[0, 0, 0], [128, 128, 128], [255, 0, 0]]
    assert [n / total for _, n in report.colours] == pytest.approx(shares)
    assert report.mask_format == "colour" and report.colour_masks is True
    data = json.loads(json.dumps(report.to_dict()))
    assert data["colours"][2] == [[255, 0, 0], report.colours[2][1]]
    assert data["mask_format"] == "colour"


def test_black_colour_is_listed_first_even_when_rare(tmp_path: Path) -> None:
    rgb = np.zeros((20, 20, 3), np.uint8)
    rgb[:] = (0, 200, 0)
    rgb[:2, :2] = (0, 0, 0)
    rgb[10:, :] = (0, 0, 255)
    rgb[:10, 15:] = (0, 0, 255)
    gray = np.full((20, 20), 3, np.uint8)
    report = check_dataset(write_pairs(tmp_path / "d", {"a": rgb, "b": gray}))
    assert [c for c, _ in report.colours] == [[0, 0, 0], [3, 3, 3], [0, 0, 255], [0, 200, 0]]
    assert "1 colour-coded RGB mask (and 1 gray mask, read as (g, g, g)) and no " in report.problems[0]


def test_colour_masks_with_classes_json(tmp_path: Path) -> None:
    root = write_pairs(tmp_path / "d", {f"m{i}": _colour_mask() for i in range(3)})
    (root / "classes.json").write_text('{"ground": [0, 0, 0], "sky": [128, 128, 128], "sun": [255, 0, 0]}')
    report = check_dataset(root)
    assert report.ok, report.problems
    assert report.num_classes == 3 and report.class_names == ["ground", "sky", "sun"]
    assert report.colour_masks is True and report.mask_format == "colour"
    assert report.label_mapping == {0: 0, 128 * 65793: 1, 255 * 65536: 2}
    total = 3 * 32 * 48
    assert [n / total for n in report.class_pixels] == pytest.approx(
        _shares(root, [(0, 0, 0), (128, 128, 128), (255, 0, 0)]))
    mask = read_mask(_mask(root, "m0"), colour=True)
    np.testing.assert_array_equal(apply_label_mapping(mask, report.label_mapping)[:2, 0], [1, 1])
    assert report.to_dict()["class_names"] == ["ground", "sky", "sun"]


def test_colour_not_in_classes_json_is_a_problem_per_mask(tmp_path: Path) -> None:
    odd = _colour_mask()
    odd[-3:, -3:] = (0, 255, 0)
    root = write_pairs(tmp_path / "d", {"a": _colour_mask(), "b": odd})
    path = root / "classes.json"
    path.write_text('{"ground": [0, 0, 0], "sky": [128, 128, 128], "sun": [255, 0, 0]}')
    report = check_dataset(root)
    assert report.problems == [
        f"{_mask(root, 'b')}: colours (0, 255, 0) not in {path}; add them to {path} or fix the mask"]
    assert sum(report.class_pixels) == 32 * 48  # only the good mask counts


def test_palette_masks_with_colour_classes_json_use_the_palette(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", n=3, mask_style="palette", classes=3)
    palette = Image.open(_mask(root, "img_000")).getpalette()[:9]
    colours = [palette[i:i + 3] for i in (0, 3, 6)]
    (root / "classes.json").write_text(json.dumps({"a": colours[0], "b": colours[1], "c": colours[2]}))
    report = check_dataset(root)
    assert report.ok, report.problems
    assert report.colour_masks is True and report.num_classes == 3
    assert report.class_pixels == _counts(root, 3)  # the same pixels as the palette indices


def test_raw_value_classes_json(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", n=3, mask_style="255")
    (root / "classes.json").write_text('{"background": 0, "cell": 255}')
    report = check_dataset(root)
    assert report.ok, report.problems
    assert report.label_mapping == {0: 0, 255: 1}
    assert report.class_names == ["background", "cell"] and report.colour_masks is False
    assert report.mask_format == "binary 0/255"
    assert report.class_pixels == _counts(root, 2, {0: 0, 255: 1})


def test_raw_value_classes_json_with_colour_masks(tmp_path: Path) -> None:
    root = write_pairs(tmp_path / "d", {"a": _colour_mask(), "b": np.zeros((32, 48), np.uint8)})
    path = root / "classes.json"
    path.write_text('{"background": 0, "cell": 255}')
    report = check_dataset(root)
    assert len(report.problems) == 1
    assert report.problems[0].startswith(
        f"{root / 'masks'}: 1 colour-coded RGB mask and {path} lists mask values, not colours; found 3 colours ")
    assert f"; list the colours in {path} instead, e.g. " in report.problems[0]


def test_classes_json_and_num_classes_disagree(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", n=2)
    path = root / "classes.json"
    path.write_text('{"background": 0, "cell": 1}')
    report = check_dataset(root, num_classes=3)
    assert report.problems == [f"{path}: lists 2 classes but --num-classes is 3; "
                               "pass --num-classes 2 or leave it out"]


def test_bad_classes_json_is_one_problem(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", n=2)
    (root / "classes.json").write_text('{"background": 0}')
    report = check_dataset(root)
    assert len(report.problems) == 1
    assert report.problems[0].startswith(f"{root / 'classes.json'}: lists 1 class, need at least 2")
    assert report.num_classes == 2  # the masks are still checked


def _jpeg_dataset(root: Path, n: int = 3, size: int = 64) -> Path:
    rng = np.random.default_rng(3)
    masks = {}
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(n):
        mask = np.zeros((size, size), np.uint8)
        for _ in range(2):
            cy, cx = rng.uniform(0.3, 0.7, 2) * size
            mask[(yy - cy) ** 2 + (xx - cx) ** 2 < (0.15 * size) ** 2] = 255
        masks[f"m{i}"] = mask
    return write_pairs(root, masks, ".jpg", quality=75)


def test_jpeg_masks_are_snapped_to_the_class_values(tmp_path: Path) -> None:
    root = _jpeg_dataset(tmp_path / "d")
    raw = [read_mask(p) for p in sorted((root / "masks").iterdir())]
    values = np.concatenate([m.ravel() for m in raw])
    assert len(np.unique(values)) > 20  # really lossy
    off = float(np.mean((values != 0) & (values != 255)))
    report = check_dataset(root)
    assert report.ok, report.problems
    assert report.num_classes == 2 and report.mask_format == "lossy"
    assert report.lossy_share == pytest.approx(off)
    assert (f"3 masks look lossy (e.g. JPEG): {100 * off:.1f}% of their pixels hold values near the class values "
            "0, 255 and were mapped to the nearest; save masks as PNG to keep them exact") in report.notices
    assert set(report.label_mapping) == set(np.unique(values).tolist())
    assert all(cls == (raw_value >= 128) for raw_value, cls in report.label_mapping.items())
    assert report.class_pixels == [int(np.sum(values < 128)), int(np.sum(values >= 128))]
    assert report.to_dict()["lossy_share"] == pytest.approx(off)


def test_jpeg_masks_with_num_classes_given(tmp_path: Path) -> None:
    report = check_dataset(_jpeg_dataset(tmp_path / "d"), num_classes=2)
    assert report.ok, report.problems
    assert report.label_mapping[0] == 0 and report.label_mapping[255] == 1 and report.lossy_share > 0


def test_jpeg_noise_is_one_problem(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    masks = {f"m{i}": rng.integers(0, 256, (32, 32), dtype=np.uint8) for i in range(2)}
    root = write_pairs(tmp_path / "d", masks, ".jpg", quality=75)
    report = check_dataset(root)
    assert len(report.problems) == 1
    assert report.problems[0].startswith(f"{root / 'masks'}: 2 JPEG masks hold ")
    assert report.problems[0].endswith("save the masks as PNG (JPEG compression changes the values)")


def test_resized_png_masks_are_snapped(tmp_path: Path) -> None:
    masks = {}
    for i in range(3):
        small = np.zeros((64, 64), np.uint8)
        small[16 + i:45, 13:50 - i] = 255
        masks[f"m{i}"] = np.asarray(Image.fromarray(small).resize((101, 101), Image.BILINEAR))
    values = np.concatenate([m.ravel() for m in masks.values()])
    assert len(np.unique(values)) > 8 and np.mean((values % 255) != 0) < 0.05
    report = check_dataset(write_pairs(tmp_path / "d", masks))
    assert report.ok, report.problems
    assert report.mask_format == "lossy" and report.num_classes == 2
    assert report.lossy_share == pytest.approx(np.mean((values % 255) != 0))


def test_rare_class_in_png_masks_is_not_snapped(tmp_path: Path) -> None:
    masks = {}
    for i in range(3):
        mask = np.zeros((100, 100), np.uint8)
        mask[40:, :] = 1
        if i == 0:
            mask[10:19, 10:20] = 2  # 90 of 30000 pixels: 0.3%
        masks[f"m{i}"] = mask
    report = check_dataset(write_pairs(tmp_path / "d", masks))
    assert report.ok, report.problems
    assert report.label_mapping == {0: 0, 1: 1, 2: 2} and report.num_classes == 3
    assert report.lossy_share == 0 and report.mask_format == "index"
    assert report.class_pixels[2] == 90
    assert not any("lossy" in n for n in report.notices)


def test_non_consecutive_ids_are_renumbered(tmp_path: Path) -> None:
    mask = np.zeros((20, 30), np.uint8)
    mask[:, 10:20] = 3
    mask[:, 20:] = 7
    report = check_dataset(write_pairs(tmp_path / "d", {"a": mask, "b": mask[::-1]}))
    assert report.ok, report.problems
    assert report.num_classes == 3
    assert report.label_mapping == {0: 0, 3: 1, 7: 2}
    assert ("class ids 0, 3, 7 are not consecutive: mapped to 0, 1, 2 "
            "(the mapping is saved in the run's config.yaml)") in report.notices
    assert report.class_pixels == [400, 400, 400]


def test_non_consecutive_ids_with_num_classes_given(tmp_path: Path) -> None:
    mask = np.zeros((20, 30), np.uint8)
    mask[:, 10:20] = 3
    mask[:, 20:] = 7
    root = write_pairs(tmp_path / "d", {"a": mask})
    report = check_dataset(root, num_classes=3)
    assert report.ok and report.label_mapping == {0: 0, 3: 1, 7: 2}
    assert any(n.startswith("class ids 0, 3, 7 are not consecutive") for n in report.notices)
    report = check_dataset(root, num_classes=2)
    assert report.problems == [
        f"{root / 'masks'}: the masks hold 3 classes (values 0, 3, 7) but --num-classes is 2; "
        f"pass --num-classes 3 or fix the masks (e.g. {_mask(root, 'a')} holds 3, 7)"
    ]


def _instance_mask(n: int, size: int = 64, seed: int = 0) -> np.ndarray:
    """``n`` separate 4x4 squares on a grid with ids 1..n in random places."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((size, size), np.uint8)
    cells = rng.permutation((size // 6) ** 2)[:n]
    for object_id, cell in enumerate(cells, start=1):
        y, x = divmod(int(cell), size // 6)
        mask[6 * y + 1: 6 * y + 5, 6 * x + 1: 6 * x + 5] = object_id
    return mask


def test_instance_masks_are_one_problem(tmp_path: Path) -> None:
    masks = {"a": _instance_mask(5, seed=1), "b": _instance_mask(57, seed=2), "c": _instance_mask(20, seed=3)}
    root = write_pairs(tmp_path / "d", masks)
    report = check_dataset(root)
    assert report.problems == [
        f"{root / 'masks'}: the masks look like instance masks (one id per object: 5 to 57 ids per mask); "
        f"convert them with 'segtrain convert instances {root} OUT --to semantic' (or --to boundary to keep "
        "touching objects apart), or pass --num-classes if the ids are classes"
    ]
    assert report.mask_format == "instance" and report.to_dict()["mask_format"] == "instance"
    given = check_dataset(root, num_classes=58)  # the escape hatch: ids as classes
    assert given.ok and given.mask_format == "index"


def test_many_classes_each_one_blob_are_not_instances(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", n=3, size=(40, 60), classes=12)
    report = check_dataset(root)
    assert report.ok, report.problems
    assert report.num_classes == 12 and report.mask_format == "index"


def test_mask_formats_never_modify_the_data(tmp_path: Path) -> None:
    write_pairs(tmp_path / "c", {"a": _colour_mask()})
    _jpeg_dataset(tmp_path / "j")
    write_pairs(tmp_path / "i", {"a": _instance_mask(12), "b": _instance_mask(15, seed=1)})
    before = _snapshot(tmp_path)
    for name in "cji":
        check_dataset(tmp_path / name)
    assert _snapshot(tmp_path) == before


def test_a_value_on_a_few_pixels_is_a_stray_value_not_a_class(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", n=6, size=(32, 32))
    mask = np.array(Image.open(root / "masks" / "img_002.png"))
    mask[5, 5] = 7
    Image.fromarray(mask).save(root / "masks" / "img_002.png")
    report = check_dataset(root)
    assert report.problems == [f"{root / 'masks' / 'img_002.png'}: value 7 on only 1 pixel of the whole dataset: "
                               "a stray value, not a class; fix the mask (or pass --num-classes 3 if it is a class)"]
    assert check_dataset(root, num_classes=3).ok
    mask[5, 5:10] = 7  # 5 pixels: a (rare) class
    Image.fromarray(mask).save(root / "masks" / "img_002.png")
    report = check_dataset(root)
    assert report.ok and report.num_classes == 3
