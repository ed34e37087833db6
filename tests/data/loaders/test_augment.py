import numpy as np

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


GEOMETRY = AugmentConfig(hflip=True, vflip=True, rot90=True, rotate=180, scale_jitter=0.2, intensity=0.0)


def _blob(size=64):
    """A smooth image whose threshold is an off-centre disc: (1, H, W) image, (H, W) labels."""
    rows, cols = np.mgrid[:size, :size]
    image = (12.0 - np.hypot(rows - 20, cols - 38)).astype(np.float32)[None]
    return image, (image[0] > 0).astype(np.int64)


def test_flips_and_rot90_keep_a_thresholded_mask_aligned():
    image, mask = _blob()
    config = AugmentConfig(hflip=True, vflip=True, rot90=True, intensity=0.0)
    for seed in range(10):
        new_image, new_mask = augment(image, mask, np.random.default_rng(seed), config)
        assert np.array_equal(new_mask, (new_image[0] > 0).astype(np.int64))


def test_rotation_and_zoom_keep_image_and_mask_aligned():
    image, mask = _blob()
    changed = 0
    for seed in range(20):
        new_image, new_mask = augment(image, mask, np.random.default_rng(seed), GEOMETRY)
        assert new_image.shape == image.shape and new_mask.shape == mask.shape
        assert np.mean(new_mask == (new_image[0] > 0)) > 0.99  # only border pixels of the disc may differ
        changed += not np.array_equal(new_mask, mask)
    assert changed > 10


def test_affine_keeps_constants_and_the_label_set():
    image = np.full((3, 32, 48), 0.7, np.float32)
    mask = np.random.default_rng(0).choice([0, 2, 5, 255], size=(32, 48))
    for seed in range(10):
        new_image, new_mask = augment(image, mask, np.random.default_rng(seed), GEOMETRY)
        assert np.allclose(new_image, 0.7)
        assert set(np.unique(new_mask)) <= {0, 2, 5, 255}
        assert new_mask.dtype == mask.dtype


def test_multilabel_masks_move_with_the_image():
    image, mask = _blob()
    layers = np.stack([mask, 1 - mask, np.zeros_like(mask)]).astype(np.uint8)
    for seed in range(10):
        new_image, new_layers = augment(image, layers, np.random.default_rng(seed), GEOMETRY)
        assert new_layers.shape == layers.shape and new_layers.dtype == np.uint8
        assert np.array_equal(new_layers[0] + new_layers[1], np.ones_like(mask))  # nearest labels: no mixing
        assert not new_layers[2].any()
        assert np.mean(new_layers[0] == (new_image[0] > 0)) > 0.99


def test_same_seed_same_result():
    rng = np.random.default_rng(1)
    image = rng.standard_normal((3, 40, 40)).astype(np.float32)
    mask = rng.integers(0, 4, (40, 40))
    config = GEOMETRY.model_copy(update={"gamma": 0.3, "blur": 0.5, "noise": 0.1, "intensity": 0.1})
    a = augment(image, mask, np.random.default_rng(7), config)
    b = augment(image, mask, np.random.default_rng(7), config)
    c = augment(image, mask, np.random.default_rng(8), config)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_unplanned_switches_are_off():
    rng = np.random.default_rng(2)
    image = rng.standard_normal((2, 16, 16)).astype(np.float32)
    mask = rng.integers(0, 3, (16, 16))
    config = AugmentConfig(intensity=0.0)
    assert all(getattr(config, name) is None for name in ("hflip", "vflip", "rot90", "rotate", "scale_jitter",
                                                          "gamma", "blur", "noise"))
    for seed in range(5):
        new_image, new_mask = augment(image, mask, np.random.default_rng(seed), config)
        assert np.array_equal(new_image, image) and np.array_equal(new_mask, mask)


def test_gamma_keeps_each_channel_range_and_constants():
    rng = np.random.default_rng(3)
    image = np.concatenate([rng.standard_normal((1, 16, 16)), np.full((1, 16, 16), -0.4)]).astype(np.float32)
    config = AugmentConfig(gamma=0.5, intensity=0.0)
    mask = np.zeros((16, 16), np.int64)
    changed = False
    for seed in range(5):
        new_image, _ = augment(image, mask, np.random.default_rng(seed), config)
        assert np.isclose(new_image[0].min(), image[0].min()) and np.isclose(new_image[0].max(), image[0].max())
        assert np.allclose(new_image[1], -0.4)
        changed |= not np.allclose(new_image[0], image[0])
    assert changed


def test_blur_and_noise_change_the_image_only():
    rng = np.random.default_rng(4)
    image = rng.standard_normal((3, 24, 24)).astype(np.float32)
    mask = rng.integers(0, 3, (24, 24))
    for config in (AugmentConfig(blur=1.0, intensity=0.0), AugmentConfig(noise=0.2, intensity=0.0)):
        new_image, new_mask = augment(image, mask, np.random.default_rng(0), config)
        assert np.array_equal(new_mask, mask)
        assert new_image.dtype == np.float32 and not np.allclose(new_image, image)
    blurred, _ = augment(image, mask, np.random.default_rng(0), AugmentConfig(blur=1.0, intensity=0.0))
    assert blurred.std() < image.std()  # a blur smooths white noise
