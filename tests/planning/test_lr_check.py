import math

import pytest
import torch

from segtrain.planning.lr_check import CAP_BELOW_MINIMUM, TRIAL_FACTOR, capped, choose, lr_trial


def test_cap_a_decade_below_the_loss_minimum():
    assert capped(1e-3, 1e-1)[0] == 1e-3
    lr, why = capped(5e-2, 1e-1)
    assert lr == pytest.approx(1e-1 / CAP_BELOW_MINIMUM) and "capped" in why
    assert capped(5e-2, None)[0] == 5e-2


def test_choose_keeps_the_higher_rate_only_when_it_wins_clearly():
    lr = 3e-3
    low = lr / TRIAL_FACTOR
    assert choose(lr, {lr: 0.50, low: 0.60})[0] == lr
    assert choose(lr, {lr: 0.58, low: 0.60})[0] == low  # under 5% better: the steadier rate
    assert choose(lr, {lr: math.inf, low: 0.60})[0] == low


def _problem():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    x = torch.randn(32, 4)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    return model, [(x, y)] * 8, torch.nn.functional.mse_loss


def test_trial_restores_the_model_and_a_good_rate_beats_a_tiny_one():
    model, batches, loss = _problem()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    good = lr_trial(model, optimizer, batches, loss, 0.1)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    tiny = lr_trial(model, optimizer, batches, loss, 1e-6)
    assert good < tiny
    assert lr_trial(model, optimizer, batches, loss, 1e6) == math.inf  # diverges to a non-finite loss
