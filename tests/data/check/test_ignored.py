"""Tests for segtrain.data.check.ignored: ignore values in the check, proposals, and the classes.json check prints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from helpers.datasets import write_pairs
from segtrain.data.check.dataset import check_dataset
from segtrain.data.check.ignored import VOC_BORDER, classes_json_proposal, voc_colour
from segtrain.data.check.scan import scan_whole
from segtrain.data.discovery import Sample
from segtrain.data.label_mapping import IGNORE_LABEL


def bordered(n: int = 4) -> dict[str, np.ndarray]:
    """16x16 masks: a 0 background, an 8x8 object of 1 (a 3x3 of 2 in odd masks), and a 255 border of 16 pixels
    along the object's top and left sides (VOC-like)."""
    masks = {}
    for k in range(n):
        m = np.zeros((16, 16), np.uint8)
        m[4:12, 4:12] = 1
        m[4:12, 3] = 255
        m[3, 4:12] = 255
        if k % 2:
            m[6:9, 6:9] = 2
        masks[f"m{k}"] = m
    return masks


def test_an_ignored_value_is_no_class_and_is_not_counted(tmp_path: Path) -> None:
    root = write_pairs(tmp_path / "d", bordered())
    without = check_dataset(root)
    assert without.num_classes == 4 and without.label_mapping[255] == 3  # 255 taken as a class
    assert any("pass --ignore-index 255" in n for n in without.notices)  # ... and proposed as an ignore value
    report = check_dataset(root, ignore_index=255)
    assert report.ok, report.problems
    assert report.num_classes == 3
    assert report.label_mapping == {0: 0, 1: 1, 2: 2, 255: IGNORE_LABEL}
    # per mask: 256 pixels, 16 border, 64 object (9 of them class 2 in odd masks)
    assert report.class_pixels == [4 * (256 - 64 - 16), 4 * 64 - 2 * 9, 2 * 9]
    assert report.ignored_pixels == 4 * 16 and report.ignored_per_image == {f"m{k}": 16 for k in range(4)}
    assert "6.2% of pixels ignored: value 255 (not a class" in " ".join(report.notices)
    assert not any("--ignore-index 255" in n and "pass" in n for n in report.notices)


def test_a_binary_mask_with_an_ignored_border_stays_binary(tmp_path: Path) -> None:
    masks = {k: np.where(m == 2, 1, m).astype(np.uint8) for k, m in bordered(2).items()}
    report = check_dataset(write_pairs(tmp_path / "d", masks), ignore_index=255)
    assert report.ok and report.num_classes == 2 and report.mask_format == "binary"
    assert report.label_mapping == {0: 0, 1: 1, 255: IGNORE_LABEL}


def test_any_value_can_be_the_ignored_one(tmp_path: Path) -> None:
    masks = {k: (m.astype(np.int64) + 1).clip(0, 11).astype(np.uint8) for k, m in bordered(2).items()}  # 1, 2, 3, 11
    report = check_dataset(write_pairs(tmp_path / "d", masks), ignore_index=11)  # CamVid's void
    assert report.ok and report.num_classes == 3
    assert report.label_mapping == {1: 0, 2: 1, 3: 2, 11: IGNORE_LABEL}
    zero = check_dataset(write_pairs(tmp_path / "z", {k: m + 1 for k, m in bordered(2).items() if True}),
                         ignore_index=1)  # the background 0 + 1 = 1 ignored: 2, 3, 0 (255 + 1) remain
    assert zero.ok and IGNORE_LABEL == zero.label_mapping[1] and zero.num_classes == 3


def test_a_mask_of_only_ignored_pixels_is_a_problem(tmp_path: Path) -> None:
    masks = {"a": bordered(1)["m0"], "b": np.full((16, 16), 255, np.uint8)}
    report = check_dataset(write_pairs(tmp_path / "d", masks), ignore_index=255)
    assert any(p.startswith(f"{tmp_path / 'd' / 'masks' / 'b.png'}: every pixel holds an ignored value (255)")
               for p in report.problems)


def test_a_label_map_with_ignore_values(tmp_path: Path) -> None:
    masks = {k: np.select([m == 0, m == 1, m == 2], [7, 8, 26], 255).astype(np.uint8) for k, m in bordered(2).items()}
    root = write_pairs(tmp_path / "d", masks)
    (root / "classes.json").write_text(json.dumps({"classes": {"road": 7, "sidewalk": 8, "car": 26},
                                                   "ignore": [0, 255]}))
    report = check_dataset(root)
    assert report.ok, report.problems
    assert report.class_names == ["road", "sidewalk", "car"]
    assert report.label_mapping == {7: 0, 8: 1, 26: 2, 0: IGNORE_LABEL, 255: IGNORE_LABEL}
    assert report.ignored_pixels == 2 * 16


def test_a_cityscapes_list_maps_ids_to_train_ids(tmp_path: Path) -> None:
    masks = {k: np.select([m == 0, m == 1, m == 2], [7, 8, 9], 0).astype(np.uint8) for k, m in bordered(2).items()}
    root = write_pairs(tmp_path / "d", masks)
    (root / "classes.json").write_text(json.dumps([
        {"name": "unlabeled", "id": 0, "train_id": 255}, {"name": "road", "id": 7, "train_id": 0},
        {"name": "sidewalk", "id": 8, "train_id": 1}, {"name": "parking", "id": 9, "train_id": 1}]))
    report = check_dataset(root)
    assert report.ok, report.problems
    assert report.num_classes == 2 and report.class_names == ["road", "sidewalk"]
    assert report.label_mapping == {7: 0, 8: 1, 9: 1, 0: IGNORE_LABEL}
    assert report.class_pixels == [2 * (256 - 64 - 16), 2 * 64]


def test_a_class_named_void_is_proposed_as_the_ignore_value(tmp_path: Path) -> None:
    root = write_pairs(tmp_path / "d", bordered(2))
    (root / "classes.json").write_text('{"background": 0, "object": 1, "part": 2, "void": 255}')
    report = check_dataset(root)
    assert report.ok and report.num_classes == 4
    assert any(n.startswith(f'{root / "classes.json"} names value 255 "void"') and "--ignore-index 255" in n
               for n in report.notices)


def test_roi_pixels_are_left_out_of_the_counts(tmp_path: Path) -> None:
    root = write_pairs(tmp_path / "d", {"a": bordered(1)["m0"]})
    roi = np.zeros((16, 16), np.uint8)
    roi[:8] = 1  # the top half
    Image.fromarray(roi).save(tmp_path / "roi.png")
    scan = scan_whole(Sample("a", root / "images" / "a.png", root / "masks" / "a.png", roi=tmp_path / "roi.png"))
    assert scan.ignored == 128
    # inside rows 0..7: the object's rows 4..7 (4 x 8 = 32 pixels of 1); the border's column 3 in rows 4..7 (4) and
    # row 3 (8): 12 pixels of 255; the other 128 - 32 - 12 = 84 are background
    assert dict(zip(scan.values.tolist(), scan.counts.tolist())) == {0: 84, 1: 32, 255: 12}


def test_voc_colours_get_voc_names_and_the_border_goes_under_ignore(tmp_path: Path) -> None:
    assert voc_colour(0) == (0, 0, 0) and voc_colour(1) == (128, 0, 0) and voc_colour(15) == (192, 128, 128)
    m = np.zeros((16, 16, 3), np.uint8)
    m[4:12, 4:12] = voc_colour(15)
    m[3, 4:12] = VOC_BORDER
    root = write_pairs(tmp_path / "d", {"a": m, "b": m})
    report = check_dataset(root)
    assert not report.ok  # colour masks without classes.json: a problem, with a ready file printed beside it
    assert json.loads(report.proposed_classes) == {"classes": {"background": [0, 0, 0], "person": [192, 128, 128]},
                                                   "ignore": [list(VOC_BORDER)]}
    assert not (root / "classes.json").exists()  # check writes nothing into the dataset
    (root / "classes.json").write_text(report.proposed_classes)
    fixed = check_dataset(root)
    assert fixed.ok and fixed.num_classes == 2 and fixed.ignored_pixels == 2 * 8


def test_the_proposal_without_known_colours_names_classes_by_number() -> None:
    class Report:
        colours = [([0, 0, 0], 10), ([1, 2, 3], 5)]

    assert json.loads(classes_json_proposal(Report())) == {"background": [0, 0, 0], "class1": [1, 2, 3]}
