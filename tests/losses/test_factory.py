import math

import pytest
import torch

from segtrain.losses import segmentation_loss


def test_binary_matches_hand_computed_value():
    # z = 0 gives -log(0.5) for either label; z = 2, y = 1 gives log(1 + e^-2)
    logits = torch.tensor([0.0, 2.0]).view(1, 1, 1, 2)
    labels = torch.tensor([[[0, 1]]])
    expected = (math.log(2) + math.log(1 + math.exp(-2))) / 2
    assert segmentation_loss(logits, labels).item() == pytest.approx(expected, rel=1e-6)


def test_multiclass_matches_torch_cross_entropy():
    torch.manual_seed(0)
    logits, labels = torch.randn(2, 4, 5, 6), torch.randint(0, 4, (2, 5, 6))
    assert torch.allclose(segmentation_loss(logits, labels), torch.nn.functional.cross_entropy(logits, labels))


def test_logits_form_stays_finite_where_sigmoid_then_bce_does_not():
    logits = torch.tensor([100.0, -100.0]).view(1, 1, 1, 2)
    labels = torch.tensor([[[0, 1]]])
    naive = torch.nn.functional.binary_cross_entropy(torch.sigmoid(logits), labels.float().view(1, 1, 1, 2))
    assert naive.item() == pytest.approx(100.0)  # torch clamps log at -100: the true value is lost
    assert segmentation_loss(logits, labels).item() == pytest.approx(100.0, rel=1e-6)  # exact: log(1 + e^100)


@pytest.mark.parametrize("channels", [1, 3])
def test_ignored_pixels_do_not_count(channels):
    torch.manual_seed(1)
    logits = torch.randn(1, channels, 2, 2)
    labels = torch.tensor([[[1, 0], [7, 7]]])
    full = segmentation_loss(logits[..., :1, :], labels[:, :1, :])
    assert segmentation_loss(logits, labels, ignore_index=7).item() == pytest.approx(full.item(), rel=1e-6)


@pytest.mark.parametrize("channels", [1, 3])
def test_all_ignored_is_zero_not_nan(channels):
    logits = torch.randn(1, channels, 2, 2, requires_grad=True)
    loss = segmentation_loss(logits, torch.full((1, 2, 2), 9), ignore_index=9)
    loss.backward()
    assert loss.item() == 0.0
    assert torch.equal(logits.grad, torch.zeros_like(logits))
