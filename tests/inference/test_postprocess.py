import numpy as np
import pytest
import torch

from helpers.networks import tiny_checkpoint

from segtrain.config.postprocess_spec import parse_step
from segtrain.inference.postprocess import apply_step, apply_steps
from segtrain.inference.predictor import Predictor


def test_steps_parse_into_operation_share_and_class():
    assert parse_step("fill_holes@1") == ("fill_holes", None, 1)
    assert parse_step("largest_component@12") == ("largest_component", None, 12)
    assert parse_step("remove_small:0.001@2") == ("remove_small", 0.001, 2)
    assert parse_step("remove_small:1e-05@1") == ("remove_small", 1e-5, 1)


@pytest.mark.parametrize("step", ["fill_holes", "fill_holes@0", "largest@1", "remove_small@1", "remove_small:2@1",
                                  "remove_small:0@1", "fill_holes@1 "])
def test_bad_steps_are_refused_naming_the_grammar(step):
    with pytest.raises(ValueError, match="fill_holes@K|between 0 and 1"):
        parse_step(step)


def test_fill_holes_fills_only_enclosed_pixels():
    m = np.zeros((7, 7), np.int8)
    m[1:6, 1:6] = 1
    m[3, 3] = 0          # enclosed: filled
    m[1, 3] = 0          # on the ring's edge, touching the outside: stays
    out = apply_step(m, "fill_holes@1")
    assert out[3, 3] == 1 and out[1, 3] == 0
    assert (out != m).sum() == 1


def test_largest_component_removes_the_others_and_refills_them_from_their_surroundings():
    m = np.zeros((6, 10), np.int8)
    m[:, 5:] = 2          # a second class on the right
    m[1:4, 1:4] = 1       # 9 pixels of class 1: kept
    m[1, 7] = 1           # 1 pixel of class 1 inside class 2: becomes 2, its surroundings
    m[5, 0] = 1           # 1 pixel of class 1 on the background: becomes 0
    out = apply_step(m, "largest_component@1")
    assert out[1, 7] == 2 and out[5, 0] == 0
    assert (out == 1).sum() == 9


def test_components_are_eight_connected():
    m = np.zeros((4, 4), np.int8)
    m[0, 0] = m[1, 1] = m[2, 2] = 1  # a diagonal line: one region
    m[0, 3] = 1
    out = apply_step(m, "largest_component@1")
    assert (out == 1).sum() == 3 and out[0, 3] == 0


def test_remove_small_uses_a_share_of_the_image():
    m = np.zeros((10, 10), np.int8)   # 100 pixels
    m[0:2, 0:2] = 1                   # 4 pixels = 4%
    m[5:8, 5:8] = 1                   # 9 pixels = 9%
    assert (apply_step(m, "remove_small:0.05@1") == 1).sum() == 9
    assert (apply_step(m, "remove_small:0.1@1") == 1).sum() == 0
    assert (apply_step(m, "remove_small:0.01@1") == m).all()


def test_absent_class_and_no_steps_leave_the_map_alone():
    m = np.zeros((3, 3), np.int8)
    assert apply_steps(m, ["largest_component@1", "fill_holes@2"]) is m


def test_the_predictor_applies_the_runs_steps_and_flips():
    checkpoint = tiny_checkpoint(classes=3)
    image = np.random.default_rng(0).random((40, 50, 3)).astype(np.float32)
    plain = Predictor(checkpoint)
    logits = plain.logits(image)
    raw = plain.classes(logits)
    checkpoint["segtrain"]["postprocess"] = ["largest_component@1", "fill_holes@2"]
    checkpoint["segtrain"]["tta"] = True
    checkpoint["segtrain"]["config"]["augment"]["hflip"] = True
    refined = Predictor(checkpoint)
    assert refined.tta and refined.views == [(), (-1,)]
    flipped = refined.logits(image)
    expected = (logits + plain.logits(image[:, ::-1].copy()).flip(-1)) / 2
    assert torch.allclose(flipped, expected, atol=1e-5)
    assert (refined.classes(logits) == apply_steps(raw, ["largest_component@1", "fill_holes@2"])).all()
