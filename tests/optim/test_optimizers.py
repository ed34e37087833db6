import pytest
import torch

from segtrain.config import ModelConfig
from segtrain.optim.optimizers import build_optimizer, parameter_groups
from segtrain.models import build_model


def test_no_weight_decay_on_norm_and_bias():
    model = build_model(1, 2, ModelConfig(depth=2, width=8))
    decay, no_decay = parameter_groups(model, 0.01)
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    ids = {id(p) for p in no_decay["params"]}
    assert norms and all(id(m.weight) in ids and id(m.bias) in ids for m in norms)
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


@pytest.mark.parametrize("name, kind", [("adamw", torch.optim.AdamW), ("adam", torch.optim.Adam), ("sgd", torch.optim.SGD)])
def test_builds_each_optimizer(name, kind):
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    optimizer = build_optimizer(name, model, lr=0.5, weight_decay=0.1)
    assert type(optimizer) is kind
    assert [g["lr"] for g in optimizer.param_groups] == [0.5, 0.5]
    if name == "sgd":
        assert optimizer.param_groups[0]["momentum"] == 0.9 and optimizer.param_groups[0]["nesterov"]


def test_adamw_decay_leaves_biases_alone():
    bias_only = torch.nn.Parameter(torch.ones(3))
    weight = torch.nn.Parameter(torch.ones(3, 3))
    model = torch.nn.Module()
    model.b, model.w = bias_only, weight
    optimizer = build_optimizer("adamw", model, lr=0.1, weight_decay=0.5)
    (bias_only.sum() * 0 + weight.sum() * 0).backward()  # zero gradients: only decay acts
    optimizer.step()
    assert torch.equal(bias_only.data, torch.ones(3))
    assert torch.allclose(weight.data, torch.full((3, 3), 1 - 0.1 * 0.5))


def test_unknown_optimizer_is_refused():
    with pytest.raises(ValueError, match="choose one of"):
        build_optimizer("lion", torch.nn.Linear(2, 2), 0.1)


@pytest.mark.parametrize("name", ["adamw", "adam"])
def test_adam_uses_the_fused_kernel_and_matches_the_loop(name):
    torch.manual_seed(0)
    models = [build_model(1, 2, ModelConfig(depth=2, width=8)) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    fused = build_optimizer(name, models[0], lr=1e-2, weight_decay=0.1)
    assert fused.defaults["fused"] is True
    kind = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
    loop = kind(parameter_groups(models[1], 0.1), lr=1e-2, foreach=False)
    x = torch.randn(2, 1, 16, 16)
    for _ in range(3):
        for model, optimizer in ((models[0], fused), (models[1], loop)):
            optimizer.zero_grad()
            model(x).square().mean().backward()
            optimizer.step()
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
