"""The masked MSE counts the masked pixels and nothing else."""

from __future__ import annotations

import pytest
import torch

from segtrain.losses.masked import masked_mse


def test_only_masked_pixels_count():
    target = torch.zeros(1, 2, 4, 4)
    pred = torch.zeros(1, 2, 4, 4)
    pred[0, :, 0, 0] = 3.0  # masked: error 9 in both channels
    pred[0, :, 3, 3] = 100.0  # not masked: must not count
    mask = torch.zeros(1, 1, 4, 4)
    mask[0, 0, 0, 0] = mask[0, 0, 1, 1] = 1.0
    # errors over the masked pixels x channels: 9, 9, 0, 0 -> mean 4.5
    assert float(masked_mse(pred, target, mask)) == pytest.approx(4.5)


def test_gradient_reaches_masked_pixels_only():
    pred = torch.randn(2, 1, 5, 5, requires_grad=True)
    mask = torch.zeros(2, 1, 5, 5)
    mask[1, 0, 2, 3] = 1
    masked_mse(pred, torch.zeros_like(pred), mask).backward()
    grad = pred.grad.abs() > 0
    assert grad.sum() == 1 and grad[1, 0, 2, 3]


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError):
        masked_mse(torch.zeros(1, 1, 4, 4), torch.zeros(1, 2, 4, 4), torch.ones(1, 1, 4, 4))
