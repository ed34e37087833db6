import pytest

from segtrain.planning.arithmetic import rescale_lr, samples_seen, sliding_tiles, steps_per_epoch


def test_steps_per_epoch_is_ceiling():
    assert steps_per_epoch(1304, 8) == 163
    assert steps_per_epoch(1305, 8) == 164
    assert steps_per_epoch(3, 8) == 1


def test_samples_seen_course_example():
    # batch 16, 200 steps per epoch, 50 epochs
    assert samples_seen(16, 1, 200, 50) == 160_000
    # accumulating 4 micro-batches of 4 sees the same samples per update as a batch of 16
    assert samples_seen(4, 4, 200, 50) == 160_000


def test_steps_per_epoch_counts_weight_updates_of_the_effective_batch():
    assert steps_per_epoch(1304, 4 * 2) == 163  # batch 4, accumulate 2


def test_rescale_lr_rules():
    assert rescale_lr(0.1, 256, 1024, "sgd") == pytest.approx(0.4)  # Goyal et al.: linear
    assert rescale_lr(1e-3, 4, 16, "adamw") == pytest.approx(2e-3)  # square root
    assert rescale_lr(1e-3, 16, 4, "adam") == pytest.approx(5e-4)
    assert rescale_lr(3e-3, 8, 8, "adamw") == 3e-3


@pytest.mark.parametrize("length, patch, overlap", [(256, 256, 0.25), (288, 256, 0.25), (384, 256, 0.25), (2000, 256, 0.25), (100, 256, 0.5), (1000, 128, 0.5)])
def test_sliding_tiles_matches_monai(length, patch, overlap):
    from monai.data.utils import dense_patch_slices
    from monai.inferers.utils import _get_scan_interval

    size = max(length, patch)
    interval = _get_scan_interval((size,), (patch,), 1, (overlap,))
    assert sliding_tiles(length, patch, overlap) == len(dense_patch_slices((size,), (patch,), interval))
