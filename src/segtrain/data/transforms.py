"""Intensity normalisation and training augmentation, on numpy arrays.

Images are ``(C, H, W)`` float32 after :func:`normalize`; masks are ``(H, W)`` int64, or
``(L, H, W)`` for multilabel masks.
"""

from __future__ import annotations

import numpy as np

from segtrain.config.schema import AugmentConfig

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


def augment(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, config: AugmentConfig):
    """Random flips, 90-degree rotations and a mild contrast/brightness change.

    Geometry changes act on image and mask alike; intensity changes on the image only:
    ``x * (1 + a) + b`` with ``a, b`` uniform in ``[-intensity, intensity]``.
    """
    if config.hflip and rng.random() < 0.5:
        image, mask = image[:, :, ::-1], mask[..., :, ::-1]
    if config.vflip and rng.random() < 0.5:
        image, mask = image[:, ::-1, :], mask[..., ::-1, :]
    if config.rot90 and image.shape[1] == image.shape[2]:
        k = int(rng.integers(4))
        image, mask = np.rot90(image, k, axes=(1, 2)), np.rot90(mask, k, axes=(-2, -1))
    if config.intensity > 0:
        s = config.intensity
        image = image * np.float32(1 + rng.uniform(-s, s)) + np.float32(rng.uniform(-s, s))
    return np.ascontiguousarray(image, dtype=np.float32), np.ascontiguousarray(mask)
