import pytest

from segtrain.planning.arithmetic import epochs_in_budget, images_seen, sliding_tiles, steps_per_epoch


def test_steps_per_epoch_is_ceiling():
    assert steps_per_epoch(1304, 8) == 163
    assert steps_per_epoch(1305, 8) == 164
    assert steps_per_epoch(3, 8) == 1


def test_images_seen_course_example():
    # batch 16, 200 steps per epoch, 50 epochs
    assert images_seen(16, 200, 50) == 160_000


@pytest.mark.parametrize("length, patch, overlap", [(256, 256, 0.25), (288, 256, 0.25), (384, 256, 0.25), (2000, 256, 0.25), (100, 256, 0.5), (1000, 128, 0.5)])
def test_sliding_tiles_matches_monai(length, patch, overlap):
    from monai.data.utils import dense_patch_slices
    from monai.inferers.utils import _get_scan_interval

    size = max(length, patch)
    interval = _get_scan_interval((size,), (patch,), 1, (overlap,))
    assert sliding_tiles(length, patch, overlap) == len(dense_patch_slices((size,), (patch,), interval))


def test_epochs_in_budget():
    assert epochs_in_budget(300, 100, 0.5, 10) == 5  # 300 / (50 + 10)
    assert epochs_in_budget(10, 100, 0.5, 10) == 1  # never below one
