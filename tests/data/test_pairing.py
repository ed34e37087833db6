"""Tests for segtrain.data.pairing: the name rules that pair an image with a differently named mask."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.layouts import img
from segtrain.data.discovery import discover
from segtrain.data.pairing import Rule, check_pattern, rekey
from segtrain.errors import UserError

FOLDER = Path("masks")


def _listing(*stems: str) -> dict[str, list[Path]]:
    return {stem: [FOLDER / f"{stem}.png"] for stem in stems}


def test_a_tag_rule_wins_a_tie_with_the_shared_number():
    images, masks = _listing("21_training", "22_training"), _listing("21_manual1", "22_manual1")
    result = rekey(images, masks, same_names=0)
    assert result.rule == Rule("_training", "_manual1")
    assert result.masks == {"21_training": [FOLDER / "21_manual1.png"], "22_training": [FOLDER / "22_manual1.png"]}
    assert result.line == ("paired by rule: <name>_training <-> <name>_manual1 (e.g. 21_training.png <-> "
                           "21_manual1.png)")


def test_the_shared_number_when_no_tag_fits_and_numbers_compare_as_numbers():
    images, masks = _listing("scan_7", "scan_12"), _listing("07_expert", "012_expert")
    result = rekey(images, masks, same_names=0)
    assert result.rule == Rule(numeric=True)
    assert result.masks == {"scan_7": [FOLDER / "07_expert.png"], "scan_12": [FOLDER / "012_expert.png"]}


def test_no_rule_when_equal_names_pair_as_many():
    images = _listing("a", "b")
    assert rekey(images, _listing("a", "b"), same_names=2).rule is None
    # <stem>_segmentation also pairs by the <stem>_<label> names: the older notice is kept
    assert rekey(images, _listing("a_segmentation", "b_segmentation"), same_names=2).rule is None


def test_tags_compare_without_case_and_unpaired_masks_stay_under_their_own_name():
    result = rekey(_listing("Cell1", "Cell2"), _listing("Cell1_MASK", "Cell2_MASK", "extra"), same_names=0)
    assert result.rule == Rule("", "_mask")
    assert sorted(result.masks) == ["Cell1", "Cell2", "extra"]


def test_a_pattern_names_the_rule_and_a_bad_one_is_refused_by_its_flag():
    result = rekey(_listing("a"), _listing("a.label"), same_names=0, pattern="{stem}.label")
    assert result.masks == {"a": [FOLDER / "a.label.png"]} and result.line.startswith("paired by --mask-pattern")
    assert check_pattern(r"(.+)_gt") == r"(.+)_gt"
    with pytest.raises(UserError, match=r"^--mask-pattern '\(\[': not a regular expression"):
        check_pattern("([")
    with pytest.raises(UserError, match="needs {stem} once or a group"):
        check_pattern("_gt$")


def test_isic_style_names_keep_the_older_notice(tmp_path):
    for stem in ("ISIC_0000000", "ISIC_0000001"):
        img(tmp_path / "images" / f"{stem}.jpg", 9, rgb=True)
        img(tmp_path / "masks" / f"{stem}_segmentation.png")
    found = discover(tmp_path)
    assert [s.mask.name for s in found.samples] == ["ISIC_0000000_segmentation.png", "ISIC_0000001_segmentation.png"]
    assert found.notices == [f"{tmp_path / 'masks'}: masks named <stem>_segmentation.<ext> paired with their images"]
    assert found.layout.pairing == ["masks named <image stem>_segmentation"]


def test_drive_names_in_one_flat_folder_pair_by_rule(tmp_path):
    for n in (21, 22):
        img(tmp_path / "images" / f"{n}_training.tif", 9, rgb=True)
        img(tmp_path / "masks" / f"{n}_manual1.gif")
    found = discover(tmp_path)
    assert [(s.stem, s.mask.name) for s in found.samples] == [("21_training", "21_manual1.gif"),
                                                              ("22_training", "22_manual1.gif")]
    assert found.notices == [f"{tmp_path / 'masks'}: paired by rule: <name>_training <-> <name>_manual1 "
                             f"(e.g. 21_training.tif <-> 21_manual1.gif)"]


def test_the_shared_number_needs_one_name_pattern_among_the_images():
    masks = _listing("mask 1", "mask 2")
    one_pattern = rekey(_listing("scan_01", "scan_02"), masks, same_names=0)
    assert one_pattern.rule == Rule(numeric=True) and set(one_pattern.masks) == {"scan_01", "scan_02"}
    mixed = rekey(_listing("img_001", "photo 2"), masks, same_names=0)  # two patterns: numbers are no evidence
    assert mixed.rule is None and mixed.masks == masks
