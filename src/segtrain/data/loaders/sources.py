"""Where training patches come from: an image pair kept as read, normalised one patch at a time.

A :class:`DecodedPair` holds an image as its file gives it (``(H, W, C)``, its own dtype), the
per-channel mean and standard deviation that :func:`~segtrain.data.normalize.normalize` uses,
and the mapped labels in the smallest integer type that holds them. A patch is cropped from the
raw image and normalised alone. That gives the same numbers as cropping the normalised image
(normalising is element-wise once the statistics are known), for ``P x P`` work per draw instead
of ``H x W``, and a quarter of the memory of a float32 copy for 8-bit images.

:class:`SourceCache` keeps decoded pairs within a byte budget, so a dataset that fits is decoded
once per process instead of once per draw; the rest is read from disk when drawn. Images too
large for memory are read by windows instead (:mod:`segtrain.data.windows`), behind the same
``crop`` / ``locate`` / ``classes`` interface.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from segtrain.data.loaders.patches import pad_to
from segtrain.data.normalize import STD_FLOOR


def channel_moments(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(mean, std)`` of an ``(H, W, C)`` image, float32, computed exactly as
    :func:`~segtrain.data.normalize.normalize` computes them."""
    x = np.ascontiguousarray(np.moveaxis(image, -1, 0), dtype=np.float32)
    return x.mean(axis=(1, 2)), x.std(axis=(1, 2))


def normalize_window(window: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``(h, w, C)`` raw window to ``(C, h, w)`` float32 with the image's statistics."""
    x = np.ascontiguousarray(np.moveaxis(window, -1, 0), dtype=np.float32)
    return (x - mean[:, None, None]) / np.maximum(std, STD_FLOOR)[:, None, None]


def _compact(labels: np.ndarray) -> np.ndarray:
    """Labels in the smallest integer type that holds them (int64 is 8 bytes a pixel)."""
    if labels.size == 0:
        return labels
    lo, hi = int(labels.min()), int(labels.max())
    for dtype in (np.uint8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return labels.astype(dtype)
    return labels


class DecodedPair:
    """An image and its labels in memory, padded to at least ``patch`` on each side.

    Parameters
    ----------
    image : ndarray
        ``(H, W, C)`` as :func:`~segtrain.data.readers.read_image` returns it.
    labels : ndarray
        ``(H, W)`` class indices, or ``(L, H, W)`` 0/1 for multilabel masks.
    patch : int
        Images smaller than this are mirror-padded at the bottom and right (as
        :func:`~segtrain.data.loaders.patches.pad_to` pads), after their statistics are taken.
    ignore_index : int, optional
        Not a class to centre patches on.
    moments : (mean, std), optional
        Statistics to normalise with instead of the image's own (those of the full-resolution image
        when ``image`` was resized to the planned scale).
    """

    def __init__(self, image: np.ndarray, labels: np.ndarray, patch: int, ignore_index: int | None = None,
                 moments: tuple[np.ndarray, np.ndarray] | None = None):
        self.mean, self.std = moments if moments is not None else channel_moments(image)
        h, w = labels.shape[-2:]
        if h < patch or w < patch:  # pad_to works on (C, H, W): pad the raw image in that layout
            chw, labels = pad_to(np.moveaxis(image, -1, 0), labels, patch)
            image = np.moveaxis(chw, 0, -1)
        self.image = np.ascontiguousarray(image)
        self.labels = _compact(labels)
        self.height, self.width = self.labels.shape[-2:]
        if self.labels.ndim == 3:  # multilabel: label k+1 is channel k; 0 is "no label"
            present = [k + 1 for k in range(self.labels.shape[0]) if (self.labels[k] == 1).any()]
            self.classes = np.array(present + ([0] if (self.labels.max(0) == 0).any() else []), dtype=np.int64)
        else:
            classes = np.unique(self.labels).astype(np.int64)
            self.classes = classes[classes != ignore_index] if ignore_index is not None else classes

    @property
    def nbytes(self) -> int:
        return int(self.image.nbytes + self.labels.nbytes)

    def crop(self, top: int, left: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw ``(size, size, C)`` image window and its int64 labels."""
        window = self.image[top:top + size, left:left + size]
        return window, self.labels[..., top:top + size, left:left + size].astype(np.int64)

    def locate(self, cls: int, rng: np.random.Generator) -> tuple[int, int]:
        """A random pixel ``(row, col)`` of class ``cls``."""
        if self.labels.ndim == 3:
            where = self.labels.max(0) == 0 if cls == 0 else self.labels[cls - 1] == 1
        else:
            where = self.labels == cls
        rows, cols = np.nonzero(where)
        k = int(rng.integers(rows.size))
        return int(rows[k]), int(cols[k])


def draw_patch(source, patch: int, rng: np.random.Generator, rare_class_share: float = 0.33):
    """A random ``patch x patch`` crop of ``source``: normalised ``(C, P, P)`` float32 image and labels.

    With probability ``rare_class_share`` the crop is centred (as far as the borders allow) on a
    random pixel of a class drawn uniformly from those present; otherwise its corner is uniform
    over all valid positions. The patch depends only on ``rng`` and the image, not on whether the
    source came from the cache or was read from the file for this draw.
    """
    h, w = source.height, source.width
    top, left = int(rng.integers(h - patch + 1)), int(rng.integers(w - patch + 1))
    if rare_class_share > 0 and rng.random() < rare_class_share and source.classes.size:
        row, col = source.locate(int(rng.choice(source.classes)), rng)
        top = int(np.clip(row - patch // 2, 0, h - patch))
        left = int(np.clip(col - patch // 2, 0, w - patch))
    window, labels = source.crop(top, left, patch)
    return normalize_window(window, source.mean, source.std), labels


class SourceCache:
    """Decoded pairs kept in memory up to ``budget`` bytes, filled as they are first drawn.

    With random draws, a cache that holds a share of the dataset serves that share of the draws
    whichever images it holds, so it fills once and never evicts (no churn). Each loader process
    has its own cache; give each its share of the budget.
    """

    def __init__(self, budget: int):
        self.budget, self.used = int(budget), 0
        self.pairs: dict[int, DecodedPair] = {}
        self.hits = self.misses = 0

    def get(self, number: int, load: Callable[[], DecodedPair]) -> DecodedPair:
        pair = self.pairs.get(number)
        if pair is not None:
            self.hits += 1
            return pair
        self.misses += 1
        pair = load()
        if self.used + pair.nbytes <= self.budget:
            self.pairs[number] = pair
            self.used += pair.nbytes
        return pair
