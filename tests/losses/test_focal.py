import math

import pytest
import torch
from monai.losses import FocalLoss

from loss_helpers import random_case, with_ignored
from segtrain.losses import bce_with_logits, cross_entropy, focal_loss

LOG2 = math.log(2)


def test_hand_computed_binary():
    # z = 0: p_t = 1/2 for either label, so each pixel costs (1/2)^2 log 2 = log(2) / 4
    logits = torch.zeros(1, 1, 1, 2, dtype=torch.float64)
    labels = torch.tensor([[[1, 0]]])
    assert focal_loss(logits, labels).item() == pytest.approx(LOG2 / 4, rel=1e-12)
    # alpha 0.25 weighs the positive by 0.25 and the negative by 0.75: mean (0.25 + 0.75) / 2 * log(2) / 4
    assert focal_loss(logits, labels, alpha=0.25).item() == pytest.approx(0.5 * LOG2 / 4, rel=1e-12)
    # z = 2, y = 1: p_t = sigmoid(2), (1 - p_t)^3 * log(1 + e^-2)
    p = 1 / (1 + math.exp(-2))
    z2 = torch.full((1, 1, 1, 1), 2.0, dtype=torch.float64)
    expected = (1 - p) ** 3 * math.log(1 + math.exp(-2))
    assert focal_loss(z2, torch.tensor([[[1]]]), gamma=3).item() == pytest.approx(expected)


def test_hand_computed_multiclass():
    # logits (log 3, 0): p = (3/4, 1/4). Label 0: (1/4)^2 log(4/3); label 1: (3/4)^2 log 4
    logits = torch.tensor([math.log(3), 0.0], dtype=torch.float64).view(1, 2, 1, 1).expand(1, 2, 1, 2)
    labels = torch.tensor([[[0, 1]]])
    a, b = (1 / 16) * math.log(4 / 3), (9 / 16) * math.log(4)
    assert focal_loss(logits, labels).item() == pytest.approx((a + b) / 2, rel=1e-12)
    # alpha 0.25: background (class 0) weighed 0.75, the other classes 0.25
    assert focal_loss(logits, labels, alpha=0.25).item() == pytest.approx((0.75 * a + 0.25 * b) / 2, rel=1e-12)


@pytest.mark.parametrize("mode", ["binary", "multiclass", "multilabel"])
@pytest.mark.parametrize("ignore", [None, 255])
def test_gamma_zero_is_cross_entropy_exactly(mode, ignore):
    logits, labels = random_case(mode, seed=1, dtype=torch.float32)
    if ignore is not None:
        labels = with_ignored(labels, ignore)
    ce = cross_entropy if mode == "multiclass" else bce_with_logits
    focal = focal_loss(logits, labels, gamma=0, ignore_index=ignore)
    assert torch.equal(focal, ce(logits, labels, ignore_index=ignore))


@pytest.mark.parametrize("mode", ["binary", "multiclass", "multilabel"])
def test_better_prediction_scores_lower(mode):
    logits, labels = random_case(mode, seed=2)
    if mode == "multiclass":
        right = 4 * torch.nn.functional.one_hot(labels, 3).permute(0, 3, 1, 2).double()
    else:
        right = 4 * (2 * (labels.unsqueeze(1) if mode == "binary" else labels).double() - 1)
    closer = 0.5 * logits + 0.5 * right
    assert focal_loss(right, labels) < focal_loss(closer, labels) < focal_loss(logits, labels)


@pytest.mark.parametrize("mode", ["binary", "multilabel"])
@pytest.mark.parametrize("gamma, alpha", [(2.0, None), (2.0, 0.25), (0.5, 0.8)])
def test_sigmoid_matches_monai_mean(mode, gamma, alpha):
    # MONAI's sigmoid focal loss with reduction "mean" averages over all B*C*H*W elements, as ours
    logits, labels = random_case(mode, channels=4 if mode == "multilabel" else None, seed=3)
    target = labels.unsqueeze(1) if mode == "binary" else labels
    ref = FocalLoss(use_softmax=False, gamma=gamma, alpha=alpha)(logits, target.double())
    assert focal_loss(logits, labels, gamma=gamma, alpha=alpha).item() == pytest.approx(ref.item(), abs=1e-6)


@pytest.mark.parametrize("gamma, alpha", [(2.0, None), (2.0, 0.25), (1.5, 0.6)])
def test_softmax_matches_monai_summed_over_channels(gamma, alpha):
    # MONAI keeps the loss per channel (only the true class's channel is non-zero) and its "mean" also
    # averages over the C channels; ours is per pixel: MONAI(reduction="none") summed over C, averaged
    # over pixels. Scalar alpha: MONAI weighs channel 0 by 1 - alpha and the others by alpha, as ours.
    logits, labels = random_case("multiclass", channels=4, seed=4)
    loss = FocalLoss(use_softmax=True, to_onehot_y=True, gamma=gamma, alpha=alpha, reduction="none")
    ref = loss(logits, labels.unsqueeze(1)).sum(1).mean()
    assert focal_loss(logits, labels, gamma=gamma, alpha=alpha).item() == pytest.approx(ref.item(), abs=1e-6)
    mean = FocalLoss(use_softmax=True, to_onehot_y=True, gamma=gamma, alpha=alpha)(logits, labels.unsqueeze(1))
    assert focal_loss(logits, labels, gamma=gamma, alpha=alpha).item() == pytest.approx(4 * mean.item(), abs=1e-5)


def test_extreme_logits_stay_finite():
    z = torch.tensor([100.0, -100.0, 1000.0]).view(1, 1, 1, 3).requires_grad_()
    loss = focal_loss(z, torch.tensor([[[0, 1, 0]]]))
    loss.backward()
    # each wrong pixel: (1 - p_t)^2 = 1 (to float32 precision) times the exact BCE (100, 100, 1000)
    assert loss.item() == pytest.approx(1200 / 3, rel=1e-6)
    assert torch.isfinite(z.grad).all()
