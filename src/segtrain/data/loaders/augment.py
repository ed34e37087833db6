"""Training augmentation on numpy arrays: flips, rotations, zoom, gamma, intensity, blur and noise.

Images are ``(C, H, W)`` float32 (after :func:`segtrain.data.normalize.normalize`); masks are
``(H, W)`` int64, or ``(L, H, W)`` for multilabel masks. Every random draw comes from the ``rng``
given, so a patch's seed fixes its augmentation. A switch left at ``None`` (not planned) is off.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from segtrain.config.schema import AugmentConfig

AFFINE_SHARE = 0.5
"""Share of patches that get the rotation and zoom (when on): the others stay un-interpolated, as
the images seen at inference are, and half the patches cost no interpolation time."""
BLUR_SIGMA = (0.5, 1.0)
"""Range of the Gaussian blur's sigma in pixels: a mild loss of focus, not a different resolution."""


def augment(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, config: AugmentConfig):
    """Random geometry (image and mask alike), then random intensity changes (image only).

    In order: left-right and top-bottom flips (each with probability 1/2), a random multiple of 90
    degrees (square patches only), for a share ``AFFINE_SHARE`` of the patches one affine map
    about the patch centre combining a rotation by an angle uniform in ``[-rotate, rotate]`` and a
    zoom log-uniform in ``[1/(1+s), 1+s]`` with ``s = scale_jitter``
    (bilinear for the image, nearest for the labels, both mirrored at the border so no class is
    invented there), a gamma change, ``x * (1 + a) + b`` with ``a, b`` uniform in
    ``[-intensity, intensity]``, a Gaussian blur with probability ``blur``, and Gaussian noise.

    The gamma exponent (log-uniform in ``[1/(1+g), 1+g]``) is applied to each channel rescaled to
    [0, 1] by its minimum and maximum and mapped back to that range, since normalised (z-scored)
    values are negative in part and ``x ** gamma`` is defined for non-negative values only.
    """
    if config.hflip and rng.random() < 0.5:
        image, mask = image[:, :, ::-1], mask[..., :, ::-1]
    if config.vflip and rng.random() < 0.5:
        image, mask = image[:, ::-1, :], mask[..., ::-1, :]
    if config.rot90 and image.shape[1] == image.shape[2]:
        k = int(rng.integers(4))
        image, mask = np.rot90(image, k, axes=(1, 2)), np.rot90(mask, k, axes=(-2, -1))
    if (config.rotate or config.scale_jitter) and rng.random() < AFFINE_SHARE:
        angle = rng.uniform(-config.rotate, config.rotate) if config.rotate else 0.0
        zoom = math.exp(rng.uniform(-1, 1) * math.log1p(config.scale_jitter)) if config.scale_jitter else 1.0
        if angle != 0.0 or zoom != 1.0:
            image, mask = _affine(image, mask, math.radians(angle), zoom)
    image = np.asarray(image, dtype=np.float32)
    if config.gamma:
        image = _gamma(image, math.exp(rng.uniform(-1, 1) * math.log1p(config.gamma)))
    if config.intensity > 0:
        s = config.intensity
        image = image * np.float32(1 + rng.uniform(-s, s)) + np.float32(rng.uniform(-s, s))
    if config.blur and rng.random() < config.blur:
        sigma = rng.uniform(*BLUR_SIGMA)
        image = np.stack([ndimage.gaussian_filter(channel, sigma, mode="reflect") for channel in image])
    if config.noise:
        std = np.float32(rng.uniform(0, config.noise))
        image = image + std * rng.standard_normal(image.shape, dtype=np.float32)
    return np.ascontiguousarray(image, dtype=np.float32), np.ascontiguousarray(mask)


def _affine(image: np.ndarray, mask: np.ndarray, angle: float, zoom: float):
    """Rotate by ``angle`` radians and zoom by ``zoom`` (> 1 enlarges) about the patch centre."""
    cos, sin = math.cos(angle) / zoom, math.sin(angle) / zoom
    matrix = np.array([[cos, -sin], [sin, cos]])  # output (row, col) -> input (row, col), about the centre
    centre = (np.array(image.shape[-2:], dtype=np.float64) - 1) / 2
    offset = centre - matrix @ centre

    def warp(plane: np.ndarray, order: int) -> np.ndarray:
        return ndimage.affine_transform(plane, matrix, offset, order=order, mode="reflect", prefilter=False)

    image = np.stack([warp(np.asarray(channel, dtype=np.float32), 1) for channel in image])
    if mask.ndim == 2:
        mask = warp(np.ascontiguousarray(mask), 0)
    else:
        mask = np.stack([warp(np.ascontiguousarray(layer), 0) for layer in mask])
    return image, mask


def _gamma(image: np.ndarray, gamma: float) -> np.ndarray:
    """``x ** gamma`` on each channel rescaled to [0, 1], mapped back to the channel's range."""
    low = image.min(axis=(1, 2), keepdims=True)
    span = image.max(axis=(1, 2), keepdims=True) - low
    safe = np.where(span > 0, span, np.float32(1))
    unit = np.clip((image - low) / safe, 0, 1)
    return (low + np.power(unit, np.float32(gamma)) * span).astype(np.float32)
