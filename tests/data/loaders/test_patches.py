import numpy as np

from segtrain.data.loaders.patches import count_patches, pad_to, tiles_per_image


def test_tile_counts():
    assert tiles_per_image(288, 384, 256) == 4
    assert tiles_per_image(256, 256, 256) == 1
    assert tiles_per_image(10, 10, 256) == 1
    assert count_patches([(288, 384), (512, 512), (100, 300)], 256) == 4 + 4 + 2


def test_pad_mirrors_small_images():
    image = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    mask = np.arange(6).reshape(2, 3)
    padded_image, padded_mask = pad_to(image, mask, 4)
    assert padded_image.shape == (1, 4, 4) and padded_mask.shape == (4, 4)
    assert padded_mask[2, 0] == mask[0, 0]  # reflected row
    assert np.array_equal(padded_image[0, :2, :3], image[0])
