import pytest
import torch
from monai.losses import DiceLoss

from segtrain.losses import build_loss
from segtrain.losses.dice import soft_dice_loss


def test_binary_matches_monai():
    torch.manual_seed(0)
    logits = torch.randn(2, 1, 8, 8)
    labels = torch.randint(0, 2, (2, 8, 8))
    reference = DiceLoss(sigmoid=True, batch=True, smooth_nr=1e-5, smooth_dr=1e-5)(logits, labels.unsqueeze(1).float())
    assert soft_dice_loss(logits, labels) == pytest.approx(float(reference), abs=1e-6)


def test_multiclass_matches_monai_without_background():
    torch.manual_seed(1)
    logits = torch.randn(2, 3, 8, 8)
    labels = torch.randint(0, 3, (2, 8, 8))
    reference = DiceLoss(softmax=True, to_onehot_y=True, include_background=False, batch=True,
                         smooth_nr=1e-5, smooth_dr=1e-5)(logits, labels.unsqueeze(1))
    assert soft_dice_loss(logits, labels) == pytest.approx(float(reference), abs=1e-6)


def test_hand_computed_and_ignore_index():
    # probabilities 1, 1, 0, ignored  vs  labels 1, 0, 0, 255: intersection 1, sums 2 and 1
    logits = torch.tensor([[[[100.0, 100.0, -100.0, 100.0]]]])
    labels = torch.tensor([[[1, 0, 0, 255]]])
    expected = 1 - (2 * 1 + 1e-5) / (2 + 1 + 1e-5)
    assert soft_dice_loss(logits, labels, ignore_index=255) == pytest.approx(expected, abs=1e-6)


def test_ce_plus_dice_is_the_sum():
    logits, labels = torch.randn(1, 1, 4, 4), torch.randint(0, 2, (1, 4, 4))
    total = build_loss("ce+dice")(logits, labels)
    assert total == pytest.approx(float(build_loss("ce")(logits, labels) + build_loss("dice")(logits, labels)))
