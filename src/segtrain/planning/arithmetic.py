"""The arithmetic of a training run, as small pure functions."""

from __future__ import annotations

import math


def steps_per_epoch(patches: int, batch_size: int) -> int:
    """Weight updates in one pass over the training patches: ``ceil(patches / batch_size)``."""
    return max(1, math.ceil(patches / batch_size))


def images_seen(batch_size: int, steps: int, epochs: int) -> int:
    """Samples (patches) shown to the network: ``batch_size * steps_per_epoch * epochs``."""
    return batch_size * steps * epochs


def sliding_tiles(length: int, patch: int, overlap: float) -> int:
    """Tiles along one axis of sliding-window inference with the given overlap (as MONAI places them)."""
    if length <= patch:
        return 1
    stride = max(1, int(patch * (1 - overlap)))
    return math.ceil((length - patch) / stride) + 1


def epochs_in_budget(budget_s: float, steps: int, step_s: float, val_s: float) -> int:
    """Whole epochs (training plus one validation each) that fit in ``budget_s`` seconds (at least 1)."""
    return max(1, int(budget_s // (steps * step_s + val_s)))
