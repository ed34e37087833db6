"""Intensity normalisation: an image of any dtype to zero mean and unit variance per channel.

Images are ``(C, H, W)`` float32 after :func:`normalize`; used by training, validation and
inference alike, so it lives below all of them (numpy only).
"""

from __future__ import annotations

import numpy as np

STD_FLOOR = 1e-6
"""Smallest standard deviation divided by, so a constant image maps to zeros, not NaN."""


def normalize(image: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` image of any dtype to ``(C, H, W)`` float32 with zero mean and unit variance per channel.

    Per-image z-scoring makes 8-bit, 16-bit and float images, and frames of different
    exposure, look alike to the network (as nnU-Net does for non-CT images).
    """
    x = np.ascontiguousarray(np.moveaxis(image, -1, 0), dtype=np.float32)
    mean = x.mean(axis=(1, 2), keepdims=True)
    std = x.std(axis=(1, 2), keepdims=True)
    return (x - mean) / np.maximum(std, STD_FLOOR)
