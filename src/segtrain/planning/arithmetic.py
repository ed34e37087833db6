"""The arithmetic of a training run, as small pure functions: steps, samples, learning-rate rescaling, tiles.

The budget arithmetic (minutes -> epochs and steps) is :mod:`segtrain.planning.budget`'s.
"""

from __future__ import annotations

import math


def steps_per_epoch(patches: int, batch_size: int) -> int:
    """Weight updates in one pass over the training patches: ``ceil(patches / batch_size)``."""
    return max(1, math.ceil(patches / batch_size))


def samples_seen(batch_size: int, accumulate: int, steps: int, epochs: int) -> int:
    """Samples (patches) shown to the network: ``batch_size * accumulate * steps_per_epoch * epochs``."""
    return batch_size * accumulate * steps * epochs


def rescale_lr(lr: float, from_batch: int, to_batch: int, optimizer: str) -> float:
    """The learning rate for ``to_batch`` given one that suits ``from_batch``.

    SGD: linear rule, ``lr * to / from`` (Goyal et al., 2017: the gradient noise per example is
    kept when the step grows with the batch). Adam and AdamW: square-root rule,
    ``lr * sqrt(to / from)`` (Malladi et al., 2022: adaptive steps are already normalised by the
    gradient's scale, so only its noise, which falls with the square root of the batch, matters).
    """
    ratio = to_batch / from_batch
    return lr * (ratio if optimizer == "sgd" else math.sqrt(ratio))


def sliding_tiles(length: int, patch: int, overlap: float) -> int:
    """Tiles along one axis of sliding-window inference with the given overlap (as MONAI places them)."""
    if length <= patch:
        return 1
    stride = max(1, int(patch * (1 - overlap)))
    return math.ceil((length - patch) / stride) + 1
