import math

import pytest
import torch
from torch.nn import functional as F

from loss_helpers import random_case, valid_only, with_ignored
from segtrain.losses import bce_with_logits, cross_entropy, segmentation_loss


def test_bce_hand_computed():
    # z = 0 gives -log(1/2) = log 2 for either label; z = 2, y = 1 gives -log(sigmoid(2)) = log(1 + e^-2)
    logits = torch.tensor([0.0, 2.0]).view(1, 1, 1, 2)
    labels = torch.tensor([[[0, 1]]])
    assert bce_with_logits(logits, labels).item() == pytest.approx((math.log(2) + math.log(1 + math.exp(-2))) / 2)
    # pos_weight 3 multiplies only the positive term: (log 2 + 3 log(1 + e^-2)) / 2
    expected = (math.log(2) + 3 * math.log(1 + math.exp(-2))) / 2
    assert bce_with_logits(logits, labels, pos_weight=3.0).item() == pytest.approx(expected)


def test_ce_hand_computed_weights_and_smoothing():
    # pixel A: logits (0, 0), label 0 -> p = 1/2, -log p = log 2
    # pixel B: logits (log 3, 0), label 1 -> p = (3/4, 1/4), -log p_1 = log 4 = 2 log 2
    logits = torch.tensor([[0.0, math.log(3)], [0.0, 0.0]]).view(1, 2, 1, 2)
    labels = torch.tensor([[[0, 1]]])
    assert cross_entropy(logits, labels).item() == pytest.approx(1.5 * math.log(2))
    # weights (1, 3): (1 * log 2 + 3 * 2 log 2) / (1 + 3) = 7/4 log 2 -- divided by the weights' sum, not by 2
    assert cross_entropy(logits, labels, weight=[1.0, 3.0]).item() == pytest.approx(1.75 * math.log(2))
    # smoothing 0.2 on pixel B alone, labels 0: 0.8 * log(4/3) + 0.1 * (log(4/3) + log 4)
    one = logits[..., 1:]
    expected = 0.8 * math.log(4 / 3) + 0.1 * (math.log(4 / 3) + math.log(4))
    assert cross_entropy(one, torch.tensor([[[0]]]), label_smoothing=0.2).item() == pytest.approx(expected)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [None, 255, 1])
def test_ce_matches_torch(smoothing, weighted, ignore):
    logits, labels = random_case("multiclass", channels=4, seed=3)
    if ignore is not None:
        labels = with_ignored(labels, ignore) if ignore == 255 else labels
    weight = torch.tensor([0.5, 1.0, 2.0, 3.0], dtype=torch.float64) if weighted else None
    ours = cross_entropy(logits, labels, weight=weight, ignore_index=ignore, label_smoothing=smoothing)
    ref = F.cross_entropy(logits, labels, weight=weight, ignore_index=-100 if ignore is None else ignore,
                          label_smoothing=smoothing)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("mode", ["binary", "multilabel"])
def test_bce_matches_torch_with_pos_weight(mode):
    logits, labels = random_case(mode, seed=4)
    pos_weight = 2.5 if mode == "binary" else [0.5, 2.0, 4.0]
    ours = bce_with_logits(logits, labels, pos_weight=pos_weight)
    target = labels.unsqueeze(1) if mode == "binary" else labels
    pw = torch.tensor(pos_weight, dtype=torch.float64)
    ref = F.binary_cross_entropy_with_logits(logits, target.double(), pos_weight=pw.view(-1, 1, 1) if pw.dim() else pw)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-10)


def test_bce_multilabel_ignores_single_elements():
    logits, labels = random_case("multilabel", seed=5)
    labels = labels.clone()
    labels[0, 1, 2, 3] = labels[1, 0, 0, 0] = labels[1, 2, 5, 6] = 255
    keep = labels != 255
    ref = F.binary_cross_entropy_with_logits(logits[keep], labels[keep].double())
    assert bce_with_logits(logits, labels, ignore_index=255).item() == pytest.approx(ref.item(), rel=1e-10)


@pytest.mark.parametrize("mode", ["binary", "multiclass", "multilabel"])
def test_better_prediction_scores_lower(mode):
    logits, labels = random_case(mode, seed=6)
    if mode == "multiclass":
        right = 4 * F.one_hot(labels, 3).permute(0, 3, 1, 2).double()
    else:
        right = 4 * (2 * (labels.unsqueeze(1) if mode == "binary" else labels).double() - 1)
    closer = 0.5 * logits + 0.5 * right
    assert segmentation_loss(right, labels) < segmentation_loss(closer, labels) < segmentation_loss(logits, labels)


def test_logits_form_is_exact_where_sigmoid_then_log_is_not():
    z = torch.tensor([100.0, -100.0]).view(1, 1, 1, 2)
    y = torch.tensor([[[0, 0]]])
    p = torch.sigmoid(z)
    assert p.flatten().tolist() == [1.0, 0.0]  # float32 sigmoid rounds to exactly 1 and flushes to exactly 0
    # the manual formula -(y log p + (1 - y) log(1 - p)) with y = 0:
    # z = 100: log(1 - 1) = -inf, so the loss is inf; z = -100: y log p = 0 * log 0 = 0 * -inf = nan
    manual = -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).flatten()
    assert torch.isinf(manual[0]) and torch.isnan(manual[1])
    # torch's binary_cross_entropy clamps log at -100, so the wrong prediction saturates at exactly 100;
    # the true value is 100 + log(1 + e^-100), which in float32 is also 100.0 -- the clamp hides the problem
    clamped = F.binary_cross_entropy(p, y.float().view_as(p), reduction="none").flatten()
    assert clamped[0].item() == 100.0
    exact = 100.0 + math.log1p(math.exp(-100.0))
    per_pixel = [bce_with_logits(z[..., i:i + 1], y[..., i:i + 1]).item() for i in range(2)]
    assert per_pixel[0] == pytest.approx(exact, rel=1e-6)
    assert per_pixel[1] == pytest.approx(math.log1p(math.exp(-100.0)), abs=1e-30)  # e^-100, about 3.7e-44
    # at z = 1000 the clamp gives 100 while the loss really is 1000
    far = torch.tensor([1000.0]).view(1, 1, 1, 1)
    assert F.binary_cross_entropy(torch.sigmoid(far), torch.zeros_like(far)).item() == 100.0
    assert bce_with_logits(far, torch.tensor([[[0]]])).item() == pytest.approx(1000.0, rel=1e-6)


def test_refuses_the_wrong_mode():
    with pytest.raises(ValueError, match="cross_entropy"):
        bce_with_logits(torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="bce_with_logits"):
        cross_entropy(torch.zeros(1, 1, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="3 class weights for 4 classes"):
        cross_entropy(torch.zeros(1, 4, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long), weight=[1, 2, 3])


def test_ce_ignore_changes_nothing_weighted():
    logits, labels = random_case("multiclass", seed=7)
    labels = with_ignored(labels, 255)
    keep = labels != 255
    w = [0.3, 1.0, 2.0]
    full = cross_entropy(logits, labels, weight=w, ignore_index=255, label_smoothing=0.1)
    only = cross_entropy(valid_only(logits, keep), valid_only(labels, keep), weight=w, label_smoothing=0.1)
    assert full.item() == pytest.approx(only.item(), rel=1e-12)
