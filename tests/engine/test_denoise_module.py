"""The Noise2Void module: linear output per channel, masked loss, Adam at the planned rate."""

from __future__ import annotations

import pytest
import torch

from segtrain.config.schema import SegtrainConfig
from segtrain.engine.denoise import DenoiseModule
from segtrain.losses.masked import masked_mse


def _meta(channels=2):
    cfg = SegtrainConfig.model_validate({"model": {"depth": 2, "width": 8}, "train": {"task": "denoise"}})
    return {"task": "denoise", "config": cfg.model_dump(mode="json"), "in_channels": channels,
            "num_classes": channels, "mode": "multiclass", "mean": [0.0] * channels, "std": [1.0] * channels,
            "patch_size": 32, "lr": 4e-4, "total_steps": 10, "warmup_steps": 0}


def test_output_has_one_unbounded_channel_per_input_channel():
    module = DenoiseModule(_meta(2)).eval()
    with torch.no_grad():
        out = module(torch.randn(1, 2, 32, 32) * 50)
    assert out.shape == (1, 2, 32, 32)
    assert float(out.abs().max()) > 0  # no sigmoid or softmax: a linear head


def test_training_step_is_the_masked_mse():
    module = DenoiseModule(_meta(1))
    module.log = lambda *a, **k: None  # no trainer attached
    x, y = torch.randn(2, 1, 32, 32), torch.randn(2, 1, 32, 32)
    mask = torch.zeros(2, 1, 32, 32)
    mask[:, :, ::4, ::4] = 1
    loss = module.training_step((x, y, mask), 0)
    with torch.no_grad():
        expected = masked_mse(module(x), y, mask)
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-5)


def test_adam_at_the_planned_rate():
    optimizers = DenoiseModule(_meta(1)).configure_optimizers()
    optimizer = optimizers["optimizer"]
    assert isinstance(optimizer, torch.optim.Adam) and optimizer.param_groups[0]["initial_lr"] == 4e-4
    assert optimizers["lr_scheduler"]["interval"] == "step"
