import pytest
import torch

from segtrain.inference.tiling import logits_to_classes, logits_to_probabilities, tiled_logits


class Identity(torch.nn.Module):
    def forward(self, x):
        return x * 1.0


@pytest.mark.parametrize("h, w, patch", [(64, 64, 32), (70, 100, 32), (20, 30, 32), (257, 33, 64)])
def test_tile_and_blend_round_trip(h, w, patch):
    image = torch.arange(2 * h * w, dtype=torch.float32).reshape(1, 2, h, w)
    out = tiled_logits(Identity(), image, patch, overlap=0.25)
    assert out.shape == image.shape
    assert torch.allclose(out, image, rtol=1e-5, atol=1e-2)


def test_classes_and_probabilities():
    one = torch.tensor([[[[-1.0, 2.0]]]])
    assert logits_to_classes(one).tolist() == [[[0, 1]]]
    p = logits_to_probabilities(one)
    assert p.shape == (1, 2, 1, 2)
    assert torch.allclose(p.sum(1), torch.ones(1, 1, 2))
    many = torch.tensor([[[[0.0]], [[3.0]], [[1.0]]]])
    assert logits_to_classes(many).tolist() == [[[1]]]
