from types import SimpleNamespace

import pytest

from segtrain.config import AugmentConfig
from segtrain.planning.augmentation import (
    ANY_ROTATION,
    GAMMA_COLOUR,
    GAMMA_GRAY,
    PLANNED,
    SCALE_JITTER,
    SMALL_ROTATION,
    apply_augmentation,
    plan_augmentation,
)
from segtrain.planning.plan import PlanItem

RGB, GRAY = SimpleNamespace(channels=3), SimpleNamespace(channels=1)
SKY = {"vertical_offset": 0.3, "horizontal_offset": 0.04, "thinnest_px": 8.0}
MICROSCOPY = {"vertical_offset": 0.01, "horizontal_offset": 0.02, "thinnest_px": 10.0}


def test_scenes_with_a_sky_never_flip_vertically():
    chosen, reason = plan_augmentation(AugmentConfig(), RGB, SKY)
    assert set(chosen) == set(PLANNED)
    assert chosen["hflip"] is True and chosen["vflip"] is False and chosen["rot90"] is False
    assert chosen["rotate"] == SMALL_ROTATION
    assert chosen["gamma"] == GAMMA_COLOUR
    assert "vflip off" in reason and "top or bottom" in reason


def test_microscopy_gets_every_orientation():
    chosen, reason = plan_augmentation(AugmentConfig(), GRAY, MICROSCOPY)
    assert chosen["hflip"] and chosen["vflip"] and chosen["rot90"]
    assert chosen["rotate"] == ANY_ROTATION
    assert chosen["scale_jitter"] == SCALE_JITTER and chosen["gamma"] == GAMMA_GRAY
    assert chosen["blur"] > 0 and chosen["noise"] > 0
    assert "orientation-free" in reason


def test_a_class_on_one_side_turns_hflip_off():
    chosen, _ = plan_augmentation(AugmentConfig(), GRAY, {"vertical_offset": 0.02, "horizontal_offset": 0.2})
    assert chosen["hflip"] is False and chosen["vflip"] is True and chosen["rot90"] is False
    assert chosen["rotate"] == SMALL_ROTATION


@pytest.mark.parametrize("thinnest, scale, blur", [(2.0, False, False), (3.5, False, True), (6.0, True, True)])
def test_thin_structures_turn_zoom_and_blur_off(thinnest, scale, blur):
    chosen, reason = plan_augmentation(AugmentConfig(), GRAY, {**MICROSCOPY, "thinnest_px": thinnest})
    assert (chosen["scale_jitter"] > 0) is scale and (chosen["blur"] > 0) is blur
    if not scale:
        assert "erase" in reason


def test_user_values_win():
    config = AugmentConfig(vflip=True, rotate=0.0, noise=0.0)
    chosen, reason = plan_augmentation(config, RGB, SKY)
    assert chosen["vflip"] is True and chosen["rotate"] == 0.0 and chosen["noise"] == 0.0
    assert "vflip on: given by the user" in reason and "rotate 0: given by the user" in reason


def test_plan_file_values_come_after_the_user():
    given = {"vflip": PlanItem(True, "old"), "gamma": 0.05, "blur": None}
    chosen, reason = plan_augmentation(AugmentConfig(gamma=0.4), GRAY, SKY, given)
    assert chosen["vflip"] is True and "vflip on: from the plan file" in reason
    assert chosen["gamma"] == 0.4  # the user's value beats the plan file
    assert chosen["blur"] > 0  # None in the plan file: planned


def test_unmeasured_layout_is_conservative():
    chosen, reason = plan_augmentation(AugmentConfig(), None, None)
    assert chosen["hflip"] is True and chosen["vflip"] is False and chosen["rot90"] is False
    assert chosen["rotate"] == SMALL_ROTATION
    assert "not measured" in reason


def test_missing_offsets_are_conservative_but_thinness_still_counts():
    chosen, _ = plan_augmentation(AugmentConfig(), GRAY, {"vertical_offset": None, "horizontal_offset": 0.0,
                                                          "thinnest_px": 2.0})
    assert chosen["vflip"] is False and chosen["rotate"] == SMALL_ROTATION
    assert chosen["scale_jitter"] == 0.0 and chosen["blur"] == 0.0


def test_fingerprint_as_dict():
    chosen, _ = plan_augmentation(AugmentConfig(), {"channels": 3}, MICROSCOPY)
    assert chosen["gamma"] == GAMMA_COLOUR


def test_apply_fills_only_unset_fields():
    config = AugmentConfig(hflip=False, rotate=5.0, intensity=0.2)
    chosen, _ = plan_augmentation(AugmentConfig(), GRAY, MICROSCOPY)
    resolved = apply_augmentation(config, chosen)
    assert resolved.hflip is False and resolved.rotate == 5.0 and resolved.intensity == 0.2
    assert resolved.vflip is True and resolved.rot90 is True and resolved.gamma == GAMMA_GRAY
    assert all(getattr(resolved, name) is not None for name in PLANNED)
    assert config.vflip is None  # the input is not changed
