"""A tiny model (two 3x3 convs) overfits one synthetic 2x1x16x16 batch with each per-pixel loss.

300 Adam steps at lr 0.01 (see ``loss_helpers.overfit``); about half a second per case.
"""

import pytest

from loss_helpers import overfit
from segtrain.losses import build_loss


@pytest.mark.parametrize("mode", ["binary", "multiclass", "multilabel"])
@pytest.mark.parametrize("spec", ["ce", "focal", "lovasz"])
def test_overfits_one_batch(spec, mode):
    first, last, iou = overfit(build_loss(spec, mode), mode)
    assert iou >= 0.95
    assert last <= first / 10  # measured: 19x (lovasz, multiclass) to 1000x
