"""Properties every loss shares: gradients (gradcheck), ignored pixels, dtypes."""

import functools

import pytest
import torch

from loss_helpers import random_case, valid_only, with_ignored
from segtrain.losses import (bce_with_logits, boundary_loss, build_loss, cross_entropy, dice_loss, focal_loss,
                             jaccard_loss, lovasz_loss, tversky_loss)

ALL = ("binary", "multiclass", "multilabel")
LOSSES = {
    "bce": (functools.partial(bce_with_logits, pos_weight=2.0), ("binary", "multilabel")),
    "ce": (functools.partial(cross_entropy, weight=[0.5, 1.0, 2.0], label_smoothing=0.1), ("multiclass",)),
    "dice": (dice_loss, ALL),
    "jaccard": (jaccard_loss, ALL),
    "tversky": (tversky_loss, ALL),
    "focal_tversky": (functools.partial(tversky_loss, gamma=0.75), ALL),
    "focal": (functools.partial(focal_loss, alpha=0.25), ALL),
    "lovasz": (lovasz_loss, ALL),
    "boundary": (boundary_loss, ALL),
}
CASES = [pytest.param(name, mode, id=f"{name}-{mode}") for name, (_, modes) in LOSSES.items() for mode in modes]


@pytest.mark.parametrize("name, mode", CASES)
def test_gradcheck(name, mode):
    fn = LOSSES[name][0]
    logits, labels = random_case(mode, batch=1, size=(4, 4), seed=11)
    logits.requires_grad_()
    assert torch.autograd.gradcheck(lambda z: fn(z, labels, mode=mode), (logits,))


@pytest.mark.parametrize("name, mode", CASES)
def test_gradcheck_with_ignored_pixels(name, mode):
    fn = LOSSES[name][0]
    logits, labels = random_case(mode, batch=1, size=(4, 4), seed=12)
    labels = with_ignored(labels, 255, seed=3)
    logits.requires_grad_()
    assert torch.autograd.gradcheck(lambda z: fn(z, labels, mode=mode, ignore_index=255), (logits,))


def test_gradcheck_composite():
    logits, labels = random_case("multiclass", batch=1, size=(4, 4), seed=13)
    loss = build_loss("ce+dice:0.5+jaccard+tversky+focal+lovasz+boundary:0.1", "multiclass", ignore_index=255)
    assert torch.autograd.gradcheck(lambda z: loss(z, labels), (logits.requires_grad_(),))


@pytest.mark.parametrize("name, mode", [c for c in CASES if c.values[0] != "boundary"])
@pytest.mark.parametrize("ignore", [255, -1])
def test_ignored_pixels_change_nothing(name, mode, ignore):
    """The loss with ignored pixels equals the loss on the valid pixels alone (as one 1 x N image)."""
    fn = LOSSES[name][0]
    logits, labels = random_case(mode, seed=14)
    labels = with_ignored(labels, ignore)
    keep = (labels != ignore) if labels.dim() == 3 else (labels[:, 0] != ignore)
    assert 0 < keep.sum() < keep.numel()
    full = fn(logits, labels, mode=mode, ignore_index=ignore)
    only = fn(valid_only(logits, keep), valid_only(labels, keep), mode=mode)
    assert full.item() == pytest.approx(only.item(), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("name, mode", CASES)
def test_all_ignored_is_zero_with_zero_gradient(name, mode):
    fn = LOSSES[name][0]
    logits, labels = random_case(mode, seed=15)
    logits.requires_grad_()
    loss = fn(logits, torch.full_like(labels, 255), mode=mode, ignore_index=255)
    loss.backward()
    assert loss.item() == 0.0
    assert torch.equal(logits.grad, torch.zeros_like(logits))


@pytest.mark.parametrize("name, mode", CASES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs_compute_in_float32(name, mode, dtype):
    fn = LOSSES[name][0]
    logits, labels = random_case(mode, seed=16, dtype=dtype)
    low = fn(logits, labels, mode=mode)
    assert low.dtype == torch.float32
    assert low.item() == pytest.approx(fn(logits.float(), labels, mode=mode).item(), rel=1e-6, abs=1e-6)
    assert fn(logits.double(), labels, mode=mode).dtype == torch.float64
