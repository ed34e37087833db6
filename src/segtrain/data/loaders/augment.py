"""Training augmentation on numpy arrays: flips, 90-degree rotations, a mild intensity change.

Images are ``(C, H, W)`` float32 (after :func:`segtrain.data.normalize.normalize`); masks are
``(H, W)`` int64, or ``(L, H, W)`` for multilabel masks.
"""

from __future__ import annotations

import numpy as np

from segtrain.config.schema import AugmentConfig


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
