"""Epochs only decide when validation and checkpoints happen: the weights depend on the updates."""

import pytest
import torch

import segtrain
from helpers.datasets import make_dataset

pytestmark = pytest.mark.slow

TINY = {"model": {"depth": 2, "width": 4}, "train": {"precision": "32", "early_stop_patience": None}}


def _weights(run):
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    return {k: v for k, v in state.items() if not k.startswith("val_")}


def test_same_updates_same_weights_whatever_the_epochs(tmp_path):
    data = make_dataset(tmp_path / "data", n=10, size=(32, 48), channels=1, classes=2)
    runs = {}
    for epochs, steps in ((1, 8), (2, 4), (4, 2), (8, 1)):
        result = segtrain.train(
            data, tmp_path / f"run_{epochs}x{steps}", config=TINY, epochs=epochs, steps_per_epoch=steps,
            batch_size=2, lr=0.01, patch_size=32, progress=False, report=False,
        )
        assert result.steps == 8 and result.epochs == epochs
        runs[(epochs, steps)] = _weights(result.run)
    reference = runs[(1, 8)]
    assert any(not torch.equal(v, reference[k]) for k, v in _weights_at_start(data, tmp_path).items() if k in reference)
    for key, weights in runs.items():
        assert weights.keys() == reference.keys()
        for name, tensor in weights.items():
            assert torch.equal(tensor, reference[name]), f"{key}: {name} differs"


def _weights_at_start(data, tmp_path):
    """Weights after 1 update: proves the comparison above is not between untrained models."""
    result = segtrain.train(data, tmp_path / "run_1", config=TINY, epochs=1, steps_per_epoch=1, batch_size=2,
                            lr=0.01, patch_size=32, progress=False, report=False)
    return _weights(result.run)
