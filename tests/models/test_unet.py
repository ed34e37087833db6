import pytest
import torch

from segtrain.config import ModelConfig
from segtrain.models import UNet, build_model


@pytest.mark.parametrize("h, w", [(32, 32), (37, 50), (16, 80)])
def test_any_size_in_same_size_out(h, w):
    model = UNet(3, 2, ModelConfig(depth=3, width=4)).eval()
    assert model(torch.randn(2, 3, h, w)).shape == (2, 2, h, w)


def test_binary_has_one_logit_multiclass_has_c():
    config = ModelConfig(depth=2, width=4)
    assert build_model(1, 2, config).head.out_channels == 1
    assert build_model(1, 5, config).head.out_channels == 5


@pytest.mark.parametrize("norm", ["batch", "instance", "group", "none"])
@pytest.mark.parametrize("act", ["relu", "leakyrelu", "prelu", "elu", "gelu", "silu"])
def test_norm_and_activation_choices_build_and_run(norm, act):
    model = UNet(1, 1, ModelConfig(depth=2, width=8, norm=norm, act=act))
    out = model(torch.randn(2, 1, 16, 16))
    assert torch.isfinite(out).all()
    kinds = {type(m).__name__ for m in model.modules()}
    expected_norm = {"batch": "BatchNorm2d", "instance": "InstanceNorm2d", "group": "GroupNorm"}.get(norm)
    if expected_norm:
        assert expected_norm in kinds
    else:
        assert not kinds & {"BatchNorm2d", "InstanceNorm2d", "GroupNorm"}


def test_overfits_one_batch():
    torch.manual_seed(0)
    model = UNet(1, 1, ModelConfig(depth=2, width=8))
    x = torch.randn(4, 1, 32, 32)
    y = (x[:, 0] > 0.3).float()  # a pixel-wise rule the net can learn
    optimizer = torch.optim.Adam(model.parameters(), 1e-2)
    losses = []
    for _ in range(60):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x)[:, 0], y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]


@pytest.mark.parametrize("h, w", [(64, 64), (37, 50), (16, 80)])
def test_strided_stem_keeps_sizes_and_halves_the_first_level(h, w):
    model = UNet(3, 2, ModelConfig(depth=2, width=4, stem="strided")).eval()
    assert model.multiple == 8
    assert model(torch.randn(2, 3, h, w)).shape == (2, 2, h, w)
    seen = []
    model.encoders[0].register_forward_hook(lambda m, i, o: seen.append(o.shape[-2:]))
    model(torch.randn(1, 3, 64, 64))
    assert tuple(seen[0]) == (32, 32)
    plain = UNet(3, 2, ModelConfig(depth=2, width=4)).eval()
    assert plain.multiple == 4 and isinstance(plain.unstem, torch.nn.Identity)
