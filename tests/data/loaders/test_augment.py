import numpy as np
import pytest

from segtrain.config import AugmentConfig
from segtrain.data.loaders.augment import augment


def test_geometry_moves_image_and_mask_together():
    config = AugmentConfig(hflip=True, vflip=True, rot90=True, intensity=0.0)
    image = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    mask = np.arange(16).reshape(4, 4)
    seen = set()
    for seed in range(30):
        new_image, new_mask = augment(image, mask, np.random.default_rng(seed), config)
        assert np.array_equal(new_image[0], new_mask.astype(np.float32))
        seen.add(new_mask.tobytes())
    assert len(seen) == 8  # the 8 symmetries of the square


def test_intensity_changes_image_only():
    config = AugmentConfig(hflip=False, intensity=0.1)
    image = np.ones((1, 4, 4), np.float32)
    mask = np.ones((4, 4), np.int64)
    new_image, new_mask = augment(image, mask, np.random.default_rng(0), config)
    assert np.array_equal(new_mask, mask)
    assert not np.array_equal(new_image, image)
    assert np.all(np.abs(new_image - 1) <= 0.1 * 1 + 0.1 + 1e-6)
