"""Noise2Void's blind spots, and the patches and whole images a denoising run trains and validates on.

Blind-spot masking (as CAREamics' ``uniform_manipulate``, with the replacement window of the N2V
paper): the patch is cut into square cells of side ``d = round(sqrt(1 / share))`` (``share``
0.002 gives ``d = 22``, one pixel per 484; CAREamics' 0.2 % gives one per 500), one pixel is
chosen uniformly inside each cell (the jitter), and its value in every channel is replaced by the
value of a random other pixel of the 5x5 window around it (the centre excluded; an offset that
leaves the patch is drawn again, as CAREamics keeps its window inside the patch). The network sees the
manipulated patch; the loss compares its output with the original values at the chosen pixels
only (:func:`segtrain.losses.masked.masked_mse`), so it cannot learn the identity.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import Dataset

from segtrain.data.readers import read_image

WINDOW = 5
"""Side of the window a blind spot's replacement value is drawn from."""
_OFFSETS = np.array([(dy, dx) for dy in range(-(WINDOW // 2), WINDOW // 2 + 1)
                     for dx in range(-(WINDOW // 2), WINDOW // 2 + 1) if (dy, dx) != (0, 0)])


def cell_side(share: float) -> int:
    """The side of the grid cells that hold one blind spot each."""
    return max(2, int(round(math.sqrt(1.0 / share))))


def blind_spots(shape: tuple[int, int], share: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the blind spots of a ``shape`` patch: one per grid cell, jittered in it."""
    h, w = shape
    d = cell_side(share)
    rows0, cols0 = np.meshgrid(np.arange(0, h, d), np.arange(0, w, d), indexing="ij")
    rows0, cols0 = rows0.ravel(), cols0.ravel()
    rows = rows0 + (rng.random(rows0.size) * np.minimum(d, h - rows0)).astype(int)
    cols = cols0 + (rng.random(cols0.size) * np.minimum(d, w - cols0)).astype(int)
    return rows, cols


def neighbour_offsets(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int],
                      rng: np.random.Generator) -> np.ndarray:
    """One offset per blind spot, uniform among the window's other pixels that lie inside the patch.

    Drawn from the 24 offsets and drawn again where the neighbour falls outside (a corner pixel keeps 8
    of them); clipping or mirroring instead would sometimes land on the blind spot itself."""
    h, w = shape
    offsets = _OFFSETS[rng.integers(0, len(_OFFSETS), rows.size)]
    while True:
        r, c = rows + offsets[:, 0], cols + offsets[:, 1]
        bad = (r < 0) | (r >= h) | (c < 0) | (c >= w)
        if not bad.any():
            return offsets
        offsets[bad] = _OFFSETS[rng.integers(0, len(_OFFSETS), int(bad.sum()))]


def manipulate(patch: np.ndarray, share: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(manipulated, mask)`` of a ``(C, H, W)`` patch: blind spots replaced by a neighbour's values,
    ``mask`` ``(1, H, W)`` float32 with 1 at the blind spots."""
    _, h, w = patch.shape
    if h < 3 or w < 3:
        raise ValueError(f"a {h}x{w} patch is too small for blind spots (at least 3x3)")
    rows, cols = blind_spots((h, w), share, rng)
    offsets = neighbour_offsets(rows, cols, (h, w), rng)
    src_r, src_c = rows + offsets[:, 0], cols + offsets[:, 1]
    out = patch.copy()
    out[:, rows, cols] = patch[:, src_r, src_c]
    mask = np.zeros((1, h, w), dtype=np.float32)
    mask[0, rows, cols] = 1.0
    return out, mask


def normalised(path, mean: list[float], std: list[float]) -> np.ndarray:
    """An image ``(C, H, W)`` float32, normalised by the training set's per-channel mean and std."""
    arr = read_image(path).astype(np.float32)
    arr = (arr - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


class N2VPatches(Dataset):
    """Random square patches of the training images with random flips and quarter turns, masked.

    Item ``i`` is ``(manipulated, original, mask)``; the randomness comes from a generator seeded
    by ``seed`` and ``i``, so a resumed run draws the same stream. Images are decoded once and kept.
    """

    def __init__(self, paths: list, patch: int, share: float, mean, std, seed: int = 0, length: int | None = None):
        self.paths, self.patch, self.share, self.seed = list(paths), int(patch), float(share), int(seed)
        self.mean, self.std = mean, std
        self.length = int(length or len(self.paths))
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.length

    def _image(self, index: int) -> np.ndarray:
        if index not in self._cache:
            self._cache[index] = normalised(self.paths[index], self.mean, self.std)
        return self._cache[index]

    def __getitem__(self, i: int):
        rng = np.random.default_rng((self.seed, int(i)))
        image = self._image(int(rng.integers(len(self.paths))))
        _, h, w = image.shape
        p = self.patch
        if h < p or w < p:  # an image smaller than the patch: edge-padded up to it
            image = np.pad(image, ((0, 0), (0, max(0, p - h)), (0, max(0, p - w))), mode="edge")
            _, h, w = image.shape
        top, left = int(rng.integers(h - p + 1)), int(rng.integers(w - p + 1))
        piece = image[:, top:top + p, left:left + p]
        piece = np.rot90(piece, int(rng.integers(4)), axes=(1, 2))
        if rng.random() < 0.5:
            piece = piece[:, :, ::-1]
        piece = np.ascontiguousarray(piece)
        noisy, mask = manipulate(piece, self.share, rng)
        return torch.from_numpy(noisy), torch.from_numpy(piece), torch.from_numpy(mask)


class N2VWhole(Dataset):
    """Whole validation images, masked with a fixed seed per image: the same blind spots every epoch,
    so the validation loss of two epochs compares like with like."""

    def __init__(self, paths: list, share: float, mean, std, seed: int = 0):
        self.paths, self.share, self.mean, self.std, self.seed = list(paths), float(share), mean, std, int(seed)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        image = normalised(self.paths[i], self.mean, self.std)
        noisy, mask = manipulate(image, self.share, np.random.default_rng((self.seed, 10**6 + int(i))))
        return torch.from_numpy(noisy), torch.from_numpy(image), torch.from_numpy(mask)
