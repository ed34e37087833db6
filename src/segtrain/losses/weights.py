"""Class weights from pixel counts (plain Python: no torch needed)."""

from __future__ import annotations

import statistics
from typing import Sequence

EMPTY_CLASS_WEIGHT = 1.0
"""Weight of a class with no pixel in the counted masks: neutral. It never is a target in those
masks, so its weight only matters on data it does appear in, where 1 (the median class's weight)
is the least surprising choice; 0 could also empty torch's weighted-mean denominator."""


def class_weights_from_pixels(pixels_per_class: Sequence[int]) -> list[float]:
    r"""Median-frequency balancing (Eigen & Fergus, ICCV 2015): :math:`w_c = \mathrm{median}(f) / f_c`.

    Parameters
    ----------
    pixels_per_class : sequence of int
        Pixel count of each class (index = class), e.g. from the training masks.

    Returns
    -------
    list of float
        :math:`f_c = n_c / \sum_j n_j`; the median runs over the classes with :math:`n_c > 0`
        (the mean of the two middle values for an even number of them), so the median class
        gets weight 1, rarer classes more, commoner ones less. Classes with no pixel get
        :data:`EMPTY_CLASS_WEIGHT` (1.0); all-zero counts give all ones. Frequencies are over all
        counted pixels (not, as in Eigen & Fergus, over the images where the class occurs).

    Raises
    ------
    ValueError
        If the sequence is empty or a count is negative.
    """
    counts = [int(n) for n in pixels_per_class]
    if not counts or min(counts) < 0:
        raise ValueError(f"pixel counts must be a non-empty list of non-negative integers, got {counts}")
    total = sum(counts)
    present = [n / total for n in counts if n > 0]
    if not present:
        return [EMPTY_CLASS_WEIGHT] * len(counts)
    median = statistics.median(present)
    return [median / (n / total) if n > 0 else EMPTY_CLASS_WEIGHT for n in counts]


def pos_weight_from_pixels(pixels_per_class: Sequence[int]) -> float:
    """``negatives / positives`` for binary BCE's ``pos_weight``.

    Parameters
    ----------
    pixels_per_class : sequence of two ints
        ``(background pixels, foreground pixels)``.

    Returns
    -------
    float
        ``n_0 / n_1``: positive and negative pixels then weigh the same in total. 1.0 when
        either count is 0 (no balance to restore).

    Raises
    ------
    ValueError
        Unless given exactly two non-negative counts.
    """
    counts = [int(n) for n in pixels_per_class]
    if len(counts) != 2 or min(counts) < 0:
        raise ValueError(f"pos_weight needs two non-negative pixel counts (background, foreground), got {counts}")
    negatives, positives = counts
    if negatives == 0 or positives == 0:
        return 1.0
    return negatives / positives
