import numpy as np

from segtrain.data.patches import count_patches, pad_to, sample_patch, tiles_per_image


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


def test_patch_shape_and_content_match():
    rng = np.random.default_rng(0)
    image = np.arange(50 * 60, dtype=np.float32).reshape(1, 50, 60)
    mask = np.arange(50 * 60).reshape(50, 60)
    for _ in range(20):
        patch_image, patch_mask = sample_patch(image, mask, 16, rng)
        assert patch_image.shape == (1, 16, 16)
        assert np.array_equal(patch_image[0], patch_mask.astype(np.float32))  # same window


def test_rare_class_steering():
    mask = np.zeros((200, 200), dtype=np.int64)
    mask[190:, 190:] = 1  # 0.25% of the pixels
    image = np.zeros((1, 200, 200), dtype=np.float32)
    rng = np.random.default_rng(0)

    def share(rare):
        hits = sum(sample_patch(image, mask, 32, rng, rare)[1].any() for _ in range(400))
        return hits / 400

    uniform, steered = share(0.0), share(0.5)
    assert uniform < 0.1
    assert steered > 0.2  # about half of the steered draws pick class 1
