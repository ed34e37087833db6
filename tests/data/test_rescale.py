import numpy as np
import pytest

from segtrain.data.rescale import FILL, FIT, input_size, resize_image, resize_labels, scaled_size


def test_input_size_by_factor_and_fit():
    assert input_size(640, 1024, 1.0, 256) == (640, 1024)
    assert input_size(640, 1024, 0.5, 256) == (320, 512)
    assert input_size(640, 1024, FIT, 256) == (160, 256)  # long side 1024 -> 256
    assert input_size(100, 50, FIT, 256) == (256, 128)  # a small image is enlarged to fill the patch
    assert input_size(640, 1024, FILL, 256) == (256, 256)  # both sides: the aspect ratio changes
    assert scaled_size(3, 3, 0.1) == (1, 1)  # never below one pixel


def test_majority_downscale_of_blocks_is_exact():
    labels = np.kron(np.array([[0, 1], [2, 0]]), np.ones((4, 4), dtype=np.int64))  # 8x8, 4x4 blocks
    assert resize_labels(labels, (2, 2)).tolist() == [[0, 1], [2, 0]]
    assert resize_labels(labels, (4, 4)).tolist() == np.kron([[0, 1], [2, 0]], np.ones((2, 2))).tolist()


def test_majority_keeps_the_class_that_covers_most_of_a_target_pixel():
    labels = np.zeros((4, 4), dtype=np.int64)
    labels[:, :3] = 1  # 3 of the 4 columns of class 1: each 2x2 target pixel on the left is all 1,
    labels[:, 3] = 0   # the right ones are half 1, half 0
    out = resize_labels(labels, (2, 2))
    assert out[:, 0].tolist() == [1, 1]
    assert set(out[:, 1].tolist()) <= {0, 1}
    assert resize_labels(np.full((6, 6), 3, dtype=np.uint8), (3, 3)).tolist() == [[3] * 3] * 3


def test_multilabel_channels_resized_one_by_one():
    labels = np.zeros((2, 8, 8), dtype=np.int64)
    labels[0, :4] = 1
    labels[1, :, :4] = 1
    out = resize_labels(labels, (4, 4))
    assert out.shape == (2, 4, 4)
    assert out[0].tolist() == [[1] * 4] * 2 + [[0] * 4] * 2
    assert out[1, :, :2].all() and not out[1, :, 2:].any()


def test_resize_image_keeps_constants_and_means():
    image = np.full((10, 20, 3), 7, dtype=np.uint8)
    out = resize_image(image, (5, 10))
    assert out.shape == (5, 10, 3) and out.dtype == np.float32
    assert np.allclose(out, 7)
    ramp = np.tile(np.arange(16, dtype=np.float32), (16, 1))[..., None]
    assert resize_image(ramp, (8, 8)).mean() == pytest.approx(ramp.mean(), abs=1e-4)
