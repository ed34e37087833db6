"""Tests for segtrain.data.layouts (with discovery and assemble): datasets recognised as they are distributed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import layouts as trees
from segtrain.data.check.dataset import check_dataset
from segtrain.data.discovery import discover
from segtrain.data.layouts import LayoutOptions
from segtrain.data.split import resolve_split
from segtrain.errors import UserError


def _listing(root: Path) -> list[tuple[str, float]]:
    return sorted((str(p.relative_to(root)), p.stat().st_mtime) for p in root.rglob("*"))


def test_drive_split_folders_pair_by_rule_with_the_field_of_view(tmp_path):
    root = trees.drive(tmp_path / "DRIVE")
    before = _listing(root)
    found = discover(root)
    assert found.problems == []
    assert [s.stem for s in found.samples] == ["01_test", "02_test", "21_training", "22_training", "23_training"]
    first = found.samples[2]
    assert (first.image, first.mask, first.roi) == (root / "training/images/21_training.tif",
                                                    root / "training/1st_manual/21_manual1.gif",
                                                    root / "training/mask/21_training_mask.gif")
    assert found.split == {"train": ["21_training", "22_training", "23_training"], "val": [],
                           "test": ["01_test", "02_test"]}
    lines = found.layout.describe()
    assert lines[:3] == [
        "layout: split folders training/, test/ each with image and mask folders",
        "folders: training/images/ + training/1st_manual/ (region of interest: training/mask/) [train]",
        "folders: test/images/ + test/1st_manual/ (region of interest: test/mask/) [test]",
    ]
    assert ("pairing: paired by rule: <name>_training <-> <name>_manual1 (e.g. 21_training.tif <-> "
            "21_manual1.gif)") in lines
    assert ("split: from the split folders: train (training/), test (test/); no val folder: val drawn from train by "
            "seed") in lines
    assert lines[-1] == "counts: 5 pairs, 3 train, 0 val, 2 test"
    assert (f"{root / 'training/1st_manual'}: paired by rule: <name>_training <-> <name>_manual1 "
            f"(e.g. 21_training.tif <-> 21_manual1.gif)") in found.notices
    assert _listing(root) == before  # nothing on disk changes


def test_drive_test_folder_without_manual_masks_is_not_used_and_its_mask_folder_is_no_mask(tmp_path):
    root = trees.drive(tmp_path / "DRIVE", test_masks=False)
    found = discover(root)
    assert [s.stem for s in found.samples] == ["21_training", "22_training", "23_training"]
    assert f"{root / 'test/images'}: no mask folder beside it; its 2 image(s) are not used" in found.notices
    assert found.split == {"train": ["21_training", "22_training", "23_training"], "val": [], "test": []}


def test_folder_split_is_used_and_a_missing_val_is_drawn_from_train(tmp_path):
    root = trees.drive(tmp_path / "DRIVE")
    found = discover(root)
    stems = [s.stem for s in found.samples]
    split, source = resolve_split(stems, root, None, 0.2, 0.15, 0, found.split, found.layout.split_source)
    assert split["test"] == ["01_test", "02_test"]
    assert len(split["val"]) == 1 and set(split["train"]) | set(split["val"]) == {"21_training", "22_training",
                                                                                  "23_training"}
    assert source == ("split from the split folders: train (training/), test (test/); no val folder: val drawn "
                      "from train by seed (1 val, seed 0)")
    (tmp_path / "mine.json").write_text(json.dumps({"train": stems[:3], "val": stems[3:], "test": []}))
    split, source = resolve_split(stems, root, tmp_path / "mine.json", 0.2, 0.15, 0, found.split, "x")
    assert split["train"] == stems[:3] and source.startswith("split from ")  # --split still overrides


def test_camvid_segnet_folder_pairs_give_the_split(tmp_path):
    root = trees.camvid(tmp_path / "CamVid")
    found = discover(root)
    assert found.problems == []
    assert found.split == {"train": ["0001TP_a", "0001TP_b", "0001TP_c"], "val": ["0001TP_d"], "test": ["0001TP_e"]}
    assert found.samples[0].mask == root / "trainannot" / "0001TP_a.png"
    assert found.layout.describe()[:2] == ["layout: folder pairs train/ + trainannot/, val/ + valannot/, "
                                           "test/ + testannot/", "folders: train/ + trainannot/ [train]"]
    assert "pairing: same file names" in found.layout.describe()
    split, source = resolve_split([s.stem for s in found.samples], root, None, 0.15, 0.15, 0, found.split,
                                  found.layout.split_source)
    assert split == found.split and source == "split from the split folders: train (train/), val (val/), test (test/)"


def test_voc_lists_give_the_split_inside_the_only_folder(tmp_path):
    root = trees.voc(tmp_path / "VOCdevkit")
    found = discover(root)
    assert found.problems == []
    assert [s.stem for s in found.samples] == ["2007_000032", "2007_000033", "2007_000039"]
    assert found.samples[0].mask == root / "VOC2012/SegmentationClass/2007_000032.png"
    assert found.split == {"train": ["2007_000032", "2007_000033"], "val": ["2007_000039"], "test": []}
    base = root / "VOC2012"
    assert found.layout.describe()[:2] == [f"layout: JPEGImages/ + SegmentationClass/ in {base}",
                                           "folders: VOC2012/JPEGImages/ + VOC2012/SegmentationClass/"]
    assert found.layout.split_source == (f"from the list files train.txt, val.txt in "
                                         f"{base / 'ImageSets/Segmentation'}; no test list: test drawn from train by seed")
    assert f"{base / 'JPEGImages'}: 1 image(s) not in the split lists are not used" in found.notices


def test_cityscapes_nested_cities_pick_the_label_ids_masks(tmp_path):
    root = trees.cityscapes(tmp_path / "cityscapes")
    found = discover(root)
    assert found.problems == []
    assert [s.stem for s in found.samples] == ["aachen_000000_000000_leftImg8bit", "aachen_000000_000001_leftImg8bit",
                                               "bochum_000000_000000_leftImg8bit", "frankfurt_000000_000000_leftImg8bit"]
    assert all(s.mask.name.endswith("_gtFine_labelIds.png") for s in found.samples)
    assert found.samples[2].mask == root / "gtFine/train/bochum/bochum_000000_000000_gtFine_labelIds.png"
    assert found.split["train"] == [s.stem for s in found.samples[:3]]
    assert found.split["val"] == ["frankfurt_000000_000000_leftImg8bit"]
    lines = found.layout.describe()
    assert lines[0] == "layout: leftImg8bit/ + gtFine/, in nested folders"
    assert "folders: leftImg8bit/train/bochum/ + gtFine/train/bochum/ [train]" in lines
    assert [line for line in lines if line.startswith("pairing:")] == [
        "pairing: paired by rule: <name>_leftImg8bit <-> <name>_gtFine_labelIds (e.g. aachen_000000_000000_"
        "leftImg8bit.png <-> aachen_000000_000000_gtFine_labelIds.png)"]
    skipped = [n for n in found.notices if "other annotation files" in n]
    assert skipped == [f"{root / 'gtFine/train/aachen'}: the _labelIds masks are used; the other annotation files "
                       f"are skipped (_color, _instanceIds)"]
    assert not any("polygons" in n for n in found.notices)


def test_names_repeated_across_cities_are_made_unique_by_the_folder(tmp_path):
    for city in ("bern", "zurich"):
        trees.img(tmp_path / "images" / city / "0001.png", 9)
        trees.img(tmp_path / "masks" / city / "0001.png", 1)
    trees.img(tmp_path / "images" / "zurich" / "0002.png", 9)
    trees.img(tmp_path / "masks" / "zurich" / "0002.png", 1)
    found = discover(tmp_path)
    assert [s.stem for s in found.samples] == ["bern_0001", "zurich_0001", "zurich_0002"]
    assert found.samples[1].image == tmp_path / "images/zurich/0001.png"
    assert ("1 file name(s) repeat across folders (e.g. 0001 in bern and zurich): every sample is named "
            "<folder>_<name> (e.g. bern_0001)") in found.notices
    assert found.split is None


def test_dsb_per_instance_mask_folders(tmp_path):
    root = trees.dsb(tmp_path / "stage1_train")
    found = discover(root)
    assert found.problems == []
    first = found.samples[0]
    assert first.stem == "0a7d" and first.image == root / "0a7d/images/0a7d.png"
    assert first.instances == (root / "0a7d/masks/m00a7d.png", root / "0a7d/masks/m10a7d.png")
    assert first.mask == first.instances[0]
    assert found.layout.describe()[:3] == [
        "layout: one folder per image with images/ and masks/ (one mask file per object)",
        "folders: <id>/images/ + <id>/masks/ (one file per object)",
        "pairing: one image per folder; each file in its masks/ is one object"]


def test_dsb_case_without_masks_is_a_problem(tmp_path):
    root = trees.dsb(tmp_path / "stage1_train")
    for mask in (root / "1b2c" / "masks").iterdir():
        mask.unlink()
    found = discover(root)
    assert [s.stem for s in found.samples] == ["0a7d", "2c3d"]
    assert found.problems == [f"{root / '1b2c/images/1b2c.png'}: no mask (no files in {root / '1b2c/masks'}); add "
                              f"one mask file per object there or remove {root / '1b2c'}"]


def test_two_masks_that_fit_one_image_are_refused_naming_both(tmp_path):
    trees.img(tmp_path / "imgs" / "scan_01.png", 9)
    trees.img(tmp_path / "imgs" / "scan_02.png", 9)
    one, two = trees.img(tmp_path / "gt" / "01_manual1.png"), trees.img(tmp_path / "gt" / "01_gt.png")
    trees.img(tmp_path / "gt" / "02_manual1.png")
    found = discover(tmp_path)
    assert [s.stem for s in found.samples] == ["scan_02"]
    assert found.problems == [f"{two} and {one}: would all be the mask of {tmp_path / 'imgs/scan_01.png'}; keep one "
                              f"mask per image or name which one with --mask-pattern (e.g. '{{stem}}_manual1')"]
    assert found.layout.pairing == ["paired by the shared number (e.g. scan_02.png <-> 02_manual1.png)"]


def test_unreadable_layout_is_one_line_naming_the_folders_and_the_fix(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "outlines").mkdir()
    trees.img(tmp_path / "photos" / "a.png")
    with pytest.raises(UserError) as info:
        discover(tmp_path)
    assert str(info.value) == (f"{tmp_path}: no image and mask folders recognised (found folders outlines/, photos/); "
                               f"pass --images DIR --masks DIR (relative to {tmp_path}), or put the images in "
                               f"{tmp_path / 'images'}/ and the masks in {tmp_path / 'masks'}/")


def test_images_and_masks_flags_with_a_mask_pattern(tmp_path):
    trees.img(tmp_path / "photos" / "a.png", 9)
    trees.img(tmp_path / "photos" / "b.png", 9)
    trees.img(tmp_path / "outlines" / "seg-a.png")
    trees.img(tmp_path / "outlines" / "seg-b.png")
    for pattern in ("seg-{stem}", r"seg-(\w+)"):
        found = discover(tmp_path, LayoutOptions(images="photos", masks=tmp_path / "outlines", mask_pattern=pattern))
        assert found.problems == []
        assert [(s.stem, s.mask.name) for s in found.samples] == [("a", "seg-a.png"), ("b", "seg-b.png")]
        assert found.layout.pairing == [f"paired by --mask-pattern {pattern!r} (e.g. a.png <-> seg-a.png)"]
    assert found.layout.describe()[:2] == ["layout: folders given by --images and --masks",
                                           "folders: photos/ + outlines/"]
    without = discover(tmp_path, LayoutOptions(images="photos", masks="outlines"))
    assert without.samples == [] and len(without.problems) == 4  # no rule knows 'seg-': each file unpaired


def test_roi_flag_and_bad_layout_options_are_one_line_errors(tmp_path):
    trees.img(tmp_path / "images" / "a.png", 9)
    trees.img(tmp_path / "masks" / "a.png")
    trees.img(tmp_path / "valid" / "a_roi.png")
    assert discover(tmp_path).samples[0].roi is None  # valid/ is no region-of-interest name
    found = discover(tmp_path, LayoutOptions(roi="valid"))
    assert found.samples[0].roi == tmp_path / "valid" / "a_roi.png"
    with pytest.raises(UserError, match=r"^--images nope: no such folder .*relative to"):
        discover(tmp_path, LayoutOptions(images="nope", masks="masks"))
    with pytest.raises(UserError, match=r"^--mask-pattern 'x': needs \{stem\} once or a group"):
        discover(tmp_path, LayoutOptions(mask_pattern="x"))


def test_check_report_json_has_the_layout(tmp_path):
    report = check_dataset(trees.camvid(tmp_path / "CamVid"))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["layout"]["kind"].startswith("folder pairs ")
    assert data["layout"]["counts"] == {"pairs": 5, "train": 3, "val": 1, "test": 1}
    assert report.split["val"] == ["0001TP_d"]


def test_image_folders_without_any_mask_folder_are_one_line(tmp_path):
    trees.img(tmp_path / "images" / "a" / "x.png")
    trees.img(tmp_path / "masks" / "x.png")
    with pytest.raises(UserError) as info:
        discover(tmp_path)
    assert str(info.value) == (f"{tmp_path}: no image/mask pairs in images/ + masks/, in nested folders "
                               f"({tmp_path / 'images/a'}: no mask folder beside it; its 1 image(s) are not used); "
                               f"pass --images DIR --masks DIR")
