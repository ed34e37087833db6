"""Patch arithmetic and sampling.

One epoch is one pass over the training patches, where the patches of an image are the
``ceil(H / P) * ceil(W / P)`` patch-sized tiles that cover it. Each training sample is a
random patch of its image (drawn by :func:`segtrain.data.loaders.sources.draw_patch`): a share of them
centred on a pixel of a class chosen uniformly among the classes present, so that rare classes
are seen.
"""

from __future__ import annotations

import math

import numpy as np


def tiles_per_image(height: int, width: int, patch: int) -> int:
    """Number of ``patch x patch`` tiles that cover an image (at least 1)."""
    return max(1, math.ceil(height / patch)) * max(1, math.ceil(width / patch))


def count_patches(sizes: list[tuple[int, int]], patch: int) -> int:
    """Training patches of a set of images: the sum of their covering tiles."""
    return sum(tiles_per_image(h, w, patch) for h, w in sizes)


def pad_to(image: np.ndarray, mask: np.ndarray, patch: int) -> tuple[np.ndarray, np.ndarray]:
    """Mirror-pad ``(C, H, W)`` image and ``(H, W)`` (or ``(L, H, W)`` multilabel) mask at the bottom
    and right to at least ``patch``."""
    h, w = mask.shape[-2:]
    ph, pw = max(0, patch - h), max(0, patch - w)
    if ph or pw:
        mode = "reflect" if min(h, w) > 1 else "edge"
        image = np.pad(image, ((0, 0), (0, ph), (0, pw)), mode=mode)
        mask = np.pad(mask, ((0, 0),) * (mask.ndim - 2) + ((0, ph), (0, pw)), mode=mode)
    return image, mask
