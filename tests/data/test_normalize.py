import numpy as np
import pytest

from segtrain.data.normalize import normalize


@pytest.mark.parametrize("dtype, scale", [(np.uint8, 255), (np.uint16, 65535), (np.float32, 1.0)])
def test_normalize_zero_mean_unit_std_per_channel(dtype, scale):
    rng = np.random.default_rng(0)
    image = (rng.random((20, 30, 3)) * scale).astype(dtype)
    x = normalize(image)
    assert x.shape == (3, 20, 30) and x.dtype == np.float32
    assert np.allclose(x.mean(axis=(1, 2)), 0, atol=1e-5)
    assert np.allclose(x.std(axis=(1, 2)), 1, atol=1e-4)


def test_constant_image_gives_zeros_not_nan():
    assert np.array_equal(normalize(np.full((4, 4, 1), 7, np.uint8)), np.zeros((1, 4, 4), np.float32))
