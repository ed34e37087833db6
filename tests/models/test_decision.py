import math

import pytest
import torch

from segtrain.models.decision import decide, mode_of, output_channels, probabilities


def test_modes_and_channels():
    assert mode_of(2) == "binary" and mode_of(3) == "multiclass" and mode_of(3, multilabel=True) == "multilabel"
    assert output_channels(2, "binary") == 1 and output_channels(5, "multiclass") == 5
    assert output_channels(3, "multilabel") == 3


def test_binary_threshold_on_the_logit_scale():
    # sigmoid(z) > t  <=>  z > log(t / (1 - t)); at t = 0.8 the cut is log 4 = 1.386
    z = torch.tensor([-1.0, 0.5, 1.3, 1.4, 5.0]).view(1, 1, 1, 5)
    assert decide(z, "binary").tolist() == [[[0, 1, 1, 1, 1]]]
    assert decide(z, "binary", threshold=0.8).tolist() == [[[0, 0, 0, 1, 1]]]
    assert math.isclose(float(torch.sigmoid(torch.tensor(math.log(4.0)))), 0.8, rel_tol=1e-6)


def test_multiclass_argmax_and_probabilities_sum_to_one():
    torch.manual_seed(0)
    z = torch.randn(2, 4, 5, 6) * 10
    assert torch.equal(decide(z, "multiclass"), z.argmax(1))
    p = probabilities(z, "multiclass")
    assert torch.allclose(p.sum(1), torch.ones(2, 5, 6), atol=1e-6)
    pb = probabilities(z[:, :1], "binary")
    assert pb.shape == (2, 2, 5, 6) and torch.allclose(pb.sum(1), torch.ones(2, 5, 6), atol=1e-6)


def test_multilabel_decides_each_label():
    z = torch.tensor([[[[2.0]], [[-2.0]], [[0.1]]]])  # (1, 3, 1, 1)
    assert decide(z, "multilabel").flatten().tolist() == [1, 0, 1]
    p = probabilities(z, "multilabel")
    assert torch.allclose(p, torch.sigmoid(z))  # independent sigmoids: need not sum to one


def test_threshold_outside_zero_one_refused():
    with pytest.raises(ValueError):
        decide(torch.zeros(1, 1, 1, 1), "binary", threshold=1.0)
