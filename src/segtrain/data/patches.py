"""Patch arithmetic and sampling.

One epoch is one pass over the training patches, where the patches of an image are the
``ceil(H / P) * ceil(W / P)`` patch-sized tiles that cover it. Each training sample is a
random patch of its image: a share of them centred on a pixel of a class chosen uniformly
among the classes present, so that rare classes are seen.
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


def sample_patch(
    image: np.ndarray,
    mask: np.ndarray,
    patch: int,
    rng: np.random.Generator,
    rare_class_share: float = 0.33,
    ignore_index: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A random ``patch x patch`` crop of a ``(C, H, W)`` image and its ``(H, W)`` mask.

    With probability ``rare_class_share`` the crop is centred (as far as the borders allow) on
    a random pixel of a class drawn uniformly from those present in the mask; otherwise its
    corner is uniform over all valid positions. A multilabel mask ``(L, H, W)`` of 0/1 is
    cropped alike; its 'classes' are the labels present (and pixels with no label).
    """
    image, mask = pad_to(image, mask, patch)
    h, w = mask.shape[-2:]
    top, left = int(rng.integers(h - patch + 1)), int(rng.integers(w - patch + 1))
    if rare_class_share > 0 and rng.random() < rare_class_share:
        if mask.ndim == 3:  # multilabel: label k+1 is channel k; 0 is "no label"
            flat = np.where(mask.max(0) == 1, 0, -1)
            present = [k + 1 for k in range(mask.shape[0]) if (mask[k] == 1).any()]
            classes = np.array(present + ([0] if (flat == -1).any() else []))
        else:
            classes = np.unique(mask)
            if ignore_index is not None:
                classes = classes[classes != ignore_index]
        if classes.size:
            chosen = rng.choice(classes)
            if mask.ndim == 3:
                where = mask.max(0) == 0 if chosen == 0 else mask[chosen - 1] == 1
            else:
                where = mask == chosen
            rows, cols = np.nonzero(where)
            k = int(rng.integers(rows.size))
            top = int(np.clip(rows[k] - patch // 2, 0, h - patch))
            left = int(np.clip(cols[k] - patch // 2, 0, w - patch))
    return image[:, top : top + patch, left : left + patch], mask[..., top : top + patch, left : left + patch]
