import pytest
import torch

from loss_helpers import random_case
from segtrain.config.schema import LossConfig
from segtrain.losses import (CompositeLoss, bce_with_logits, boundary_loss, build_loss, cross_entropy, dice_loss,
                             focal_loss, lovasz_hinge, lovasz_softmax, tversky_loss)


def test_sum_of_weighted_terms_and_last_values():
    logits, labels = random_case("multiclass", seed=0)
    loss = build_loss("dice:2,focal:0.5", "multiclass", ignore_index=255)
    dice, focal = dice_loss(logits, labels), focal_loss(logits, labels)
    assert loss(logits, labels).item() == pytest.approx(2 * dice.item() + 0.5 * focal.item(), rel=1e-12)
    assert loss.terms == [("dice", 2.0), ("focal", 0.5)]
    assert loss.last_values == pytest.approx({"dice": dice.item(), "focal": focal.item()})


@pytest.mark.parametrize("mode", ["binary", "multiclass", "multilabel"])
def test_names_pick_the_mode_specific_loss(mode):
    logits, labels = random_case(mode, seed=1)
    options = LossConfig(label_smoothing=0.1, focal_gamma=1.5, focal_alpha=0.3, tversky_alpha=0.4,
                         tversky_beta=0.6, tversky_gamma=0.8)
    loss = build_loss("ce+tversky+focal+lovasz+boundary", mode, options=options)
    loss(logits, labels)
    ce = (cross_entropy(logits, labels, label_smoothing=0.1) if mode == "multiclass"
          else bce_with_logits(logits, labels))
    lovasz = lovasz_softmax(logits, labels) if mode == "multiclass" else lovasz_hinge(logits, labels)
    expected = {"ce": ce, "tversky": tversky_loss(logits, labels, alpha=0.4, beta=0.6, gamma=0.8),
                "focal": focal_loss(logits, labels, gamma=1.5, alpha=0.3), "lovasz": lovasz,
                "boundary": boundary_loss(logits, labels)}
    assert loss.last_values == pytest.approx({k: v.item() for k, v in expected.items()}, rel=1e-12)


@pytest.mark.parametrize("step, factor", [(0, 0.0), (5, 0.25), (10, 0.5), (20, 1.0), (90, 1.0)])
def test_boundary_warm_up(step, factor):
    # warm-up over 20% of 100 steps: the weight rises linearly from 0 at step 0 to full at step 20
    loss = build_loss("dice+boundary:0.4", "binary", total_steps=100)
    loss.step = step
    assert loss.term_weight("boundary") == pytest.approx(0.4 * factor)
    assert loss.term_weight("dice") == 1.0
    logits, labels = random_case("binary", seed=2)
    expected = dice_loss(logits, labels) + 0.4 * factor * boundary_loss(logits, labels)
    assert loss(logits, labels).item() == pytest.approx(expected.item(), rel=1e-12)


def test_boundary_full_weight_without_total_steps_or_warm_up():
    assert build_loss("boundary:0.3", "binary").term_weight("boundary") == 0.3
    no_warmup = build_loss("boundary:0.3", "binary", options=LossConfig(boundary_warmup=0), total_steps=100)
    assert no_warmup.term_weight("boundary") == 0.3


def test_class_weights_binary_give_pos_weight():
    logits, labels = random_case("binary", seed=3)
    loss = build_loss("ce", "binary", class_weights=[0.5, 2.0])
    assert loss.pos_weight == pytest.approx(4.0)
    assert loss(logits, labels).item() == pytest.approx(bce_with_logits(logits, labels, pos_weight=4.0).item())
    explicit = build_loss("ce", "binary", class_weights=[0.5, 2.0], options=LossConfig(pos_weight=3.0))
    assert explicit.pos_weight == 3.0
    assert build_loss("ce", "binary", options=LossConfig(class_weights=[1.0, 5.0])).pos_weight == 5.0


def test_class_weights_multiclass_weigh_ce():
    logits, labels = random_case("multiclass", seed=4)
    loss = build_loss("ce", "multiclass", class_weights=[0.2, 1.0, 3.0])
    expected = cross_entropy(logits, labels, weight=[0.2, 1.0, 3.0])
    assert loss(logits, labels).item() == pytest.approx(expected.item(), rel=1e-12)
    from_options = build_loss("ce", "multiclass", options=LossConfig(class_weights=[0.2, 1.0, 3.0]))
    assert from_options(logits, labels).item() == pytest.approx(expected.item(), rel=1e-12)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"mode": "multiclass", "options": LossConfig(class_weights="frequency")}, "no class weights were given"),
     ({"mode": "binary", "class_weights": [1.0, 2.0, 3.0]}, "two class weights"),
     ({"mode": "binary", "class_weights": [0.0, 2.0]}, "two class weights"),
     ({"mode": "multilabel", "class_weights": [1.0, 2.0]}, "multilabel"),
     ({"mode": "softmax"}, "unknown mode")],
)
def test_build_loss_refuses(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_loss("ce+dice", **kwargs)


def test_weights_are_not_needed_without_a_ce_term():
    loss = build_loss("dice", "multilabel", options=LossConfig(class_weights="frequency"), class_weights=[1.0, 2.0])
    assert loss.describe() == "1 x dice"


def test_describe():
    assert build_loss("focal:0.5+dice", "binary").describe() == "0.5 x focal (gamma 2) + 1 x dice"
    options = LossConfig(label_smoothing=0.1, tversky_gamma=0.75, focal_alpha=0.25)
    text = build_loss("ce+tversky+focal+lovasz+boundary:0.1", "multiclass", options=options,
                      class_weights=[0.5, 1, 2], total_steps=1000).describe()
    assert text == ("1 x ce (class weights 0.5, 1, 2; label smoothing 0.1) + 1 x tversky (alpha 0.3, beta 0.7, "
                    "gamma 0.75) + 1 x focal (gamma 2, alpha 0.25) + 1 x lovasz softmax + "
                    "0.1 x boundary (warm-up over 20% of steps)")
    text = build_loss("bce+lovasz", "binary", class_weights=[1, 3]).describe()
    assert text == "1 x bce (pos_weight 3) + 1 x lovasz hinge"


def test_composite_is_a_module_without_state():
    loss = build_loss("ce+dice", "multiclass")
    assert isinstance(loss, CompositeLoss) and isinstance(loss, torch.nn.Module)
    assert loss.state_dict() == {} and list(loss.parameters()) == []
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 1))
    model.loss = loss
    assert set(model.state_dict()) == {"0.weight", "0.bias"}


def test_mode_mismatch_is_refused_at_call_time():
    loss = build_loss("dice", "binary")
    with pytest.raises(ValueError, match="1 logit channel"):
        loss(*random_case("multiclass", seed=5))
