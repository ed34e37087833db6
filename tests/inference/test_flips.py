import torch

from segtrain.inference.flips import averaged_logits, training_flips


def test_views_are_the_flips_training_used():
    assert training_flips(False, False) == [()]
    assert training_flips(True, None) == [(), (-1,)]
    assert training_flips(False, True) == [(), (-2,)]
    assert training_flips(True, True) == [(), (-1,), (-2,), (-2, -1)]


def test_each_view_is_flipped_back_before_averaging():
    image = torch.arange(12.0).reshape(1, 1, 3, 4)
    # a "network" that is not flip-equivariant: it adds the column index
    columns = torch.arange(4.0).reshape(1, 1, 1, 4)
    out = averaged_logits(lambda x: x + columns, image, [(), (-1,)])
    # as is: image + c; mirrored: flip(flip(image) + c) = image + (3 - c); mean: image + 1.5
    assert torch.allclose(out, image + 1.5)


def test_an_equivariant_network_gives_the_same_logits_with_any_views():
    image = torch.randn(2, 3, 5, 6)
    conv = torch.nn.Conv2d(3, 2, 1)  # a 1x1 convolution commutes with flips
    with torch.no_grad():
        plain = averaged_logits(conv, image, [()])
        flipped = averaged_logits(conv, image, training_flips(True, True))
    assert torch.allclose(plain, flipped, atol=1e-6)
