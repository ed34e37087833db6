import math

import pytest
import torch

from loss_helpers import valid_only, with_ignored
from segtrain.losses import boundary_loss, signed_distance_maps

R2 = math.sqrt(2)


def square(size: int, lo: int, hi: int) -> torch.Tensor:
    labels = torch.zeros(1, size, size, dtype=torch.long)
    labels[0, lo:hi, lo:hi] = 1
    return labels


def test_hand_computed_2x2_square():
    # outside: distance to the nearest object pixel (1 beside an edge, sqrt 2 at a corner);
    # inside: -(distance to the nearest background pixel - 1) = 0 for every pixel of a 2x2 square
    expected = torch.tensor([[R2, 1, 1, R2], [1, 0, 0, 1], [1, 0, 0, 1], [R2, 1, 1, R2]], dtype=torch.float64)
    maps = signed_distance_maps(square(4, 1, 3), 1, "binary", dtype=torch.float64, normalize=False)
    assert maps.shape == (1, 1, 4, 4)
    assert torch.allclose(maps[0, 0], expected)


def test_hand_computed_3x3_square_has_a_negative_core():
    # the centre of a 3x3 square is 2 from the background: -(2 - 1) = -1
    expected = torch.tensor([[R2, 1, 1, 1, R2], [1, 0, 0, 0, 1], [1, 0, -1, 0, 1], [1, 0, 0, 0, 1],
                             [R2, 1, 1, 1, R2]], dtype=torch.float64)
    assert torch.allclose(signed_distance_maps(square(5, 1, 4), 1, "binary", dtype=torch.float64, normalize=False)[0, 0], expected)


def test_empty_and_full_masks_give_zero_maps():
    labels = torch.stack([torch.zeros(4, 4, dtype=torch.long), torch.ones(4, 4, dtype=torch.long)])
    assert torch.equal(signed_distance_maps(labels, 1, "binary"), torch.zeros(2, 1, 4, 4))


def test_multiclass_and_multilabel_channels():
    labels = torch.tensor([[[0, 1, 1, 0]]])  # class 2 absent: its map is 0
    maps = signed_distance_maps(labels, 3, "multiclass", dtype=torch.float64, normalize=False)
    assert maps.shape == (1, 2, 1, 4)
    assert maps[0, 0, 0].tolist() == [1, 0, 0, 1] and maps[0, 1].abs().sum() == 0
    ml = torch.tensor([[[[0, 1, 1, 0]], [[1, 1, 0, 0]]]])
    maps = signed_distance_maps(ml, 2, "multilabel", dtype=torch.float64, normalize=False)
    # pixel 0 lies 2 from the background (pixel 2): -(2 - 1) = -1; the image border is no boundary
    assert maps[0, 0, 0].tolist() == [1, 0, 0, 1] and maps[0, 1, 0].tolist() == [-1, 0, 1, 2]


def test_ignored_pixels_count_as_background_in_the_maps():
    labels = torch.tensor([[[0, 1, 255, 0]]])
    maps = signed_distance_maps(labels, 1, "binary", ignore_index=255, dtype=torch.float64, normalize=False)
    assert maps[0, 0, 0].tolist() == [1, 0, 1, 2]


def test_hand_computed_loss():
    # p = 1/2 everywhere on the 2x2-square maps: mean of phi / 2 = (4 sqrt 2 + 8 * 1) / 16 / 2 in pixels;
    # the loss's maps are divided by the 4x4 image's diagonal sqrt(32)
    logits = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    assert boundary_loss(logits, square(4, 1, 3)).item() == pytest.approx((4 * R2 + 8) / 32 / 32**0.5, rel=1e-12)
    raw = signed_distance_maps(square(4, 1, 3), 1, "binary", dtype=torch.float64, normalize=False)
    assert boundary_loss(logits, square(4, 1, 3), raw).item() == pytest.approx((4 * R2 + 8) / 32, rel=1e-12)


def test_normalised_maps_are_the_pixel_maps_over_the_diagonal():
    labels = square(8, 2, 5).repeat(2, 1, 1)[:, :6, :]  # a 6x8 image: diagonal 10
    raw = signed_distance_maps(labels, 1, "binary", dtype=torch.float64, normalize=False)
    assert torch.allclose(signed_distance_maps(labels, 1, "binary", dtype=torch.float64), raw / 10)
    assert signed_distance_maps(labels, 1, "binary").abs().max() <= 1


@pytest.mark.parametrize("shift", [1, 2])
def test_perfect_prediction_beats_a_shifted_one(shift):
    labels = square(8, 2, 6)
    perfect = 10 * (2 * labels.unsqueeze(1).double() - 1)
    shifted = torch.roll(perfect, shifts=shift, dims=3)
    assert boundary_loss(perfect, labels) < boundary_loss(shifted, labels)
    if shift == 2:
        assert boundary_loss(torch.roll(perfect, 1, dims=3), labels) < boundary_loss(shifted, labels)


def test_multiclass_uses_foreground_softmax():
    labels = torch.tensor([[[0, 1, 1, 0, 2]]])
    logits = torch.randn(1, 3, 1, 5, dtype=torch.float64)
    maps = signed_distance_maps(labels, 3, "multiclass", dtype=torch.float64)
    probs = torch.softmax(logits, 1)[:, 1:]
    assert boundary_loss(logits, labels).item() == pytest.approx((probs * maps).mean().item(), rel=1e-12)


def test_ignore_index_uses_only_valid_pixels():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 6, 6, generator=gen, dtype=torch.float64)
    labels = with_ignored(torch.randint(0, 3, (2, 6, 6), generator=gen), 255)
    maps = signed_distance_maps(labels, 3, "multiclass", ignore_index=255, dtype=torch.float64)
    keep = labels != 255
    full = boundary_loss(logits, labels, maps, ignore_index=255)
    assert full.item() == pytest.approx(boundary_loss(logits, labels, ignore_index=255).item(), rel=1e-12)
    only = boundary_loss(valid_only(logits, keep), valid_only(labels, keep), valid_only(maps, keep))
    assert full.item() == pytest.approx(only.item(), rel=1e-12)


def test_maps_follow_the_logits_dtype_and_shape_is_checked():
    labels = square(4, 1, 3)
    assert signed_distance_maps(labels, 1, "binary", dtype=torch.float64).dtype == torch.float64
    with pytest.raises(ValueError, match="distance_maps must have shape"):
        boundary_loss(torch.zeros(1, 1, 4, 4), labels, torch.zeros(1, 2, 4, 4))
