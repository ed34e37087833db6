import torch

from segtrain.inference.scaled import scaled_logits
from segtrain.inference.tiling import tiled_logits


class Identity(torch.nn.Module):
    """Logits equal to the input: what comes back shows exactly how the image was resized."""

    def forward(self, x):
        return x


def test_scale_one_is_plain_tiling():
    image = torch.rand(1, 2, 40, 56)
    assert torch.equal(scaled_logits(Identity().eval(), image, 32, 0.25, 1.0), tiled_logits(Identity().eval(), image, 32))


def test_logits_come_back_at_full_size_and_smooth_images_survive():
    y, x = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 96), indexing="ij")
    image = (x + 2 * y)[None, None]
    for scale in (0.5, "fit"):
        out = scaled_logits(Identity().eval(), image, 32, 0.25, scale)
        assert out.shape == image.shape
        assert (out - image)[..., 4:-4, 4:-4].abs().max() < 0.05  # a linear ramp is kept, borders aside
