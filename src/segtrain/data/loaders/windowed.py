"""Training patches of an image too large for memory, read window by window.

:class:`WindowedPair` is the pair source of :mod:`segtrain.data.loaders.sources` for a large TIFF image
and its TIFF mask: the same ``height``, ``width``, ``mean``, ``std``, ``classes``, ``crop`` and
``locate`` as :class:`~segtrain.data.loaders.sources.DecodedPair`, without the image or the mask in memory.

Building it (:func:`windowed_pair`) makes one pass over the files, strip by strip
(:func:`~segtrain.data.windows.strip_height` rows, so memory is bounded by
:data:`~segtrain.data.windows.STRIP_BYTES`, not by the image):

- the per-channel moments of the image (:class:`~segtrain.data.windows.Moments`, exact in float64),
  whose mean and standard deviation are what :func:`~segtrain.data.normalize.normalize` computes;
- the mapped labels of the mask, counted per class in blocks of :data:`BLOCK` x :data:`BLOCK`
  pixels: the class-presence index. :meth:`WindowedPair.locate` draws a block with probability
  proportional to its pixels of the class, then the matching pixel in that block, which reads one
  block of the mask and is a uniform draw over all the pixels of the class, as
  :func:`~segtrain.data.loaders.patches.sample_patch` draws.

The index takes ``classes x (H / BLOCK) x (W / BLOCK)`` int64 counts (200 KB per class for a
40000 x 40000 image). A pair holds no open file when pickled (DataLoader workers reopen the files
at their first crop), so it is cheap to send to worker processes.
"""

from __future__ import annotations

import numpy as np

from segtrain.data.label_mapping import apply_label_mapping
from segtrain.data.sample_io import refuse_windowed
from segtrain.data.windows import Moments, open_mask_windows, open_windows, read_dtype, strip_height, strips
from segtrain.errors import UserError

BLOCK = 256
"""Side in pixels of the blocks of the class-presence index."""


class WindowedPair:
    """A large TIFF image and its mask, read by windows (see the module docstring).

    Attributes
    ----------
    height, width : int
        The image's size.
    mean, std : ndarray
        ``(C,)`` float32 per-channel mean and standard deviation over the whole image (std before
        any floor), as :func:`~segtrain.data.normalize.normalize` computes them.
    classes : ndarray
        The mapped class indices present in the mask, int64, sorted (without ``ignore_index`` when given).
    dtype : numpy.dtype
        The image's dtype as :func:`~segtrain.data.readers.read_image` gives it.
    """

    def __init__(self, sample, labels, height: int, width: int, mean: np.ndarray, std: np.ndarray,
                 dtype: np.dtype, counts: dict[int, np.ndarray], ignore_index: int | None = None):
        self.sample, self.labels = sample, labels
        self.height, self.width = height, width
        self.mean, self.std, self.dtype = mean, std, np.dtype(dtype)
        self._cumulative = {c: np.cumsum(n.ravel()) for c, n in counts.items()}
        self._block_cols = -(-width // BLOCK)
        present = sorted(c for c, n in self._cumulative.items() if n[-1] > 0)
        self.classes = np.array([c for c in present if c != ignore_index], dtype=np.int64)
        self._image = self._mask = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_image"] = state["_mask"] = None  # open files stay in their process
        return state

    def _open(self):
        if self._image is None:
            self._image = open_windows(self.sample.image)
            self._mask = open_mask_windows(self.sample.mask, colour=self.labels.colour)
        return self._image, self._mask

    def _labels(self, top: int, left: int, height: int, width: int) -> np.ndarray:
        return apply_label_mapping(self._open()[1].window(top, left, height, width), self.labels.mapping)

    def crop(self, top: int, left: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw image window ``(size, size, C)`` with read_image's dtype and values, and its mapped int64 labels
        ``(size, size)``; the window must lie inside the image."""
        if not (0 <= top <= self.height - size and 0 <= left <= self.width - size):
            raise ValueError(f"a {size}x{size} window at ({top}, {left}) is not inside the "
                             f"{self.height}x{self.width} image {self.sample.image}")
        window = self._open()[0].window(top, left, size, size).astype(self.dtype, copy=False)
        return window, self._labels(top, left, size, size)

    def locate(self, cls: int, rng: np.random.Generator) -> tuple[int, int]:
        """A random pixel ``(row, col)`` of class ``cls``, uniform over all its pixels, reading one block of the mask."""
        cumulative = self._cumulative.get(int(cls))
        if cumulative is None or cumulative[-1] == 0:
            raise ValueError(f"class {cls} is not in the mask {self.sample.mask}")
        k = int(rng.integers(int(cumulative[-1])))
        block = int(np.searchsorted(cumulative, k, side="right"))
        k -= int(cumulative[block - 1]) if block else 0
        top, left = (block // self._block_cols) * BLOCK, (block % self._block_cols) * BLOCK
        labels = self._labels(top, left, min(BLOCK, self.height - top), min(BLOCK, self.width - left))
        rows, cols = np.nonzero(labels == cls)
        return top + int(rows[k]), left + int(cols[k])

    def close(self) -> None:
        """Close the files (they reopen at the next crop)."""
        if self._image is not None:
            self._image.close()
            self._mask.close()
        self._image = self._mask = None


def windowed_pair(sample, labels, ignore_index: int | None = None) -> WindowedPair:
    """Build the :class:`WindowedPair` of ``sample`` in one streaming pass over its image and mask.

    Parameters
    ----------
    sample : Sample
        A large TIFF image and its mask (a TIFF of class indices or colours, one page).
    labels : LabelSpec
        How mask values become class indices (``read_labels``'s mapping).
    ignore_index : int, optional
        Left out of ``classes`` (patches are not centred on it), as
        :class:`~segtrain.data.loaders.sources.DecodedPair` does.

    Raises
    ------
    UserError
        Multilabel masks; a mask that is not a one-page TIFF, has another size than its image, or
        holds values outside the label mapping; an image that cannot be read by windows.
    """
    if labels.multilabel or getattr(sample, "labels", ()):
        raise UserError(f"{sample.mask}: multilabel masks of an image too large for memory ({sample.image}) cannot "
                        "be read by windows; cut the image and its masks into smaller tiles")
    refuse_windowed(sample)
    with open_windows(sample.image) as image, open_mask_windows(sample.mask, colour=labels.colour) as mask:
        height, width, channels = image.shape
        if tuple(mask.shape) != (height, width):
            raise UserError(f"{sample.mask}: size {mask.shape[0]}x{mask.shape[1]} (HxW) differs from its image "
                            f"{sample.image} ({height}x{width}); resize or re-export the mask")
        moments, counts = Moments(), {}
        grid = (-(-height // BLOCK), -(-width // BLOCK))
        block_of_col = np.arange(width) // BLOCK
        step = strip_height(width, channels * 8 + 32)  # float64 pixels; labels, keys and counts of a strip
        for start, stop in strips(height, step, image, mask):
            moments.add(image.rows(start, stop))
            try:
                strip = apply_label_mapping(mask.rows(start, stop), labels.mapping)
            except ValueError as exc:
                raise UserError(f"{sample.mask}: {exc}; run 'segtrain check' on the dataset again") from None
            _count_blocks(strip, start, block_of_col, grid, counts)
    mean, std = np.asarray(moments.mean, np.float32), moments.std.astype(np.float32)
    dtype = read_dtype(image.dtype, moments.low, moments.high)
    return WindowedPair(sample, labels, height, width, mean, std, dtype, counts, ignore_index)


def _count_blocks(strip: np.ndarray, start: int, block_of_col: np.ndarray, grid: tuple[int, int],
                  counts: dict[int, np.ndarray]) -> None:
    """Add the pixels of each class per block of the rows ``start...`` of mapped labels ``strip`` into ``counts``
    (class -> ``grid`` int64 counts)."""
    if strip.size and 0 <= strip.min() and strip.max() < 2**16:  # class indices: a lookup, not a sort
        present = np.flatnonzero(np.bincount(strip.ravel()))
        lut = np.zeros(int(present[-1]) + 1, dtype=np.int64)
        lut[present] = np.arange(present.size)
        position = lut[strip]
    else:
        present, position = np.unique(strip, return_inverse=True)
        position = position.reshape(strip.shape)
    cols = grid[1]
    block_rows = (start + np.arange(strip.shape[0])) // BLOCK
    for block_row in np.unique(block_rows):
        part = position[block_rows == block_row]
        keys = part * cols + block_of_col[None, :]
        tally = np.bincount(keys.ravel(), minlength=present.size * cols).reshape(present.size, cols)
        for cls, row in zip(present.tolist(), tally):
            if cls not in counts:
                counts[cls] = np.zeros(grid, dtype=np.int64)
            counts[cls][block_row] += row

