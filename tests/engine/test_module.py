import torch

from helpers.networks import tiny_checkpoint
from segtrain.engine.module import SegmentationModule


def _meta(compile_network: bool) -> dict:
    meta = tiny_checkpoint(classes=2, in_channels=1, patch=32, depth=2)["segtrain"]
    meta["config"]["train"]["compile"] = compile_network
    return meta


def test_compiled_training_forward_matches_eager_and_keeps_the_parameter_names():
    eager, compiled = SegmentationModule(_meta(False)), SegmentationModule(_meta(True))
    compiled.load_state_dict(eager.state_dict())  # the same names: checkpoints load either way
    assert list(compiled.state_dict()) == list(eager.state_dict())
    assert compiled._train_network is not compiled.model and eager._train_network is eager.model
    x = torch.randn(2, 1, 32, 32)
    torch.testing.assert_close(compiled.train()(x), eager.train()(x), rtol=1e-4, atol=1e-5)
    assert compiled.eval()(x).shape == (2, 1, 32, 32)  # validation runs the eager network
