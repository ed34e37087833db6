from segtrain.config import ModelConfig
from segtrain.planning.measurements import time_steps


def test_probe_returns_positive_times_and_leaves_global_rng_alone():
    import torch

    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    step_s, tile_s = time_steps(1, 2, ModelConfig(depth=2, width=4), batch_size=2, patch=32)
    assert step_s > 0 and tile_s > 0
    assert torch.equal(torch.rand(1), expected)
