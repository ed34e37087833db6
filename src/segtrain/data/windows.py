"""Window access to TIFF images and masks too large to hold in memory.

A window is a rectangle of rows and columns read without decoding the rest of the file:

- uncompressed contiguous TIFFs go through ``tifffile.memmap``: a window copies only its rows
  and columns out of the mapping, and the mapped pages are released after each read;
- striped or tiled (also compressed) TIFFs decode only the strips or tiles a window overlaps,
  with tifffile's own decoders (zlib, LZMA and, with ``imagecodecs`` installed, the rest). The
  segments of the last read are kept, so reading a file strip by strip decodes each segment once.

:class:`ImageWindows` gives :func:`~segtrain.data.readers.read_image`'s values,
:class:`MaskWindows` :func:`~segtrain.data.readers.read_mask`'s. :func:`is_large` decides which
images take this path (see :data:`WINDOW_BYTES`); :class:`Moments` and :func:`channel_stats`
gather per-channel statistics strip by strip, in memory bounded by :data:`STRIP_BYTES`.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
from pathlib import Path

import numpy as np

from segtrain.data.headers import header_lie, not_regular
from segtrain.data.readers import (NONFINITE_FIX, ReadError, check_file, colour_values, decode_failed, finite_pixels,
                                   mask_values)
from segtrain.errors import UserError
from segtrain.runtime.env import available_memory_bytes

STRIP_BYTES = 64 * 2**20
"""Bytes of work (float64 copies, labels, temporaries) a streaming pass holds per strip of rows."""
TIFF_SUFFIXES = (".tif", ".tiff")
WINDOW_BYTES: int | None = None
"""An image is read by windows when it is a TIFF whose decoded float32 copy (``H x W x C x 4``)
exceeds this many bytes. ``None`` (the default) means: the ``SEGTRAIN_WINDOW_BYTES`` environment
variable when set, else :data:`WINDOW_MEMORY_FRACTION` of the memory available when asked
(:func:`window_bytes`)."""
WINDOW_BYTES_ENV = "SEGTRAIN_WINDOW_BYTES"
WINDOW_MEMORY_FRACTION = 1 / 16
"""Default share of the available memory one decoded float32 image may take. Reading a whole image
holds it as read, its float32 copy and the temporaries of z-scoring (about 3 float32 copies), in
each data-loader worker at once, and validation adds the logits and weights of the whole image:
at 1/16 four workers stay under the available memory with room for the network."""


def window_bytes() -> int:
    """The threshold of :func:`is_large` in bytes, read at call time (see :data:`WINDOW_BYTES`)."""
    if WINDOW_BYTES is not None:
        return int(WINDOW_BYTES)
    text = os.environ.get(WINDOW_BYTES_ENV, "").strip()
    if text:
        try:
            return int(float(text))
        except ValueError:
            raise UserError(f"{WINDOW_BYTES_ENV}={text}: not a number of bytes; set it to e.g. 2000000000 "
                            "or unset it") from None
    return int(WINDOW_MEMORY_FRACTION * available_memory_bytes())


def is_large(path_or_sample) -> bool:
    """Whether an image (a path, or a :class:`~segtrain.data.discovery.Sample`'s image) is a TIFF whose
    decoded float32 copy exceeds :func:`window_bytes`; read from the header only. Unreadable or
    unsupported files give False: the ordinary reader reports them."""
    path = Path(getattr(path_or_sample, "image", path_or_sample))
    if path.suffix.lower() not in TIFF_SUFFIXES or not_regular(path) is not None or header_lie(path) is not None:
        return False  # not a file, or a header that lies: the reader refuses it as such
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            _, height, width, channels = _layout(path, tif.series[0].shape)
    except Exception:  # noqa: BLE001 - read_image says what is wrong with it
        return False
    keep = {2: 1, 4: 3}.get(channels, channels)
    return height * width * keep * 4 > window_bytes()


def read_dtype(stored: np.dtype, low: float, high: float) -> np.dtype:
    """The dtype :func:`~segtrain.data.readers.read_image` gives an image ``stored`` as this dtype
    with values in ``[low, high]``."""
    stored = np.dtype(stored)
    if stored == np.bool_ or stored == np.uint8:
        return np.dtype(np.uint8)
    if stored.kind == "f":
        return np.dtype(np.float32)
    return np.dtype(np.uint16 if low >= 0 and high <= 65535 else np.float32)


class ImageWindows:
    """Windows of a TIFF image as :func:`~segtrain.data.readers.read_image` would give them.

    ``shape`` is ``(H, W, C)`` after dropping alpha; :meth:`window` and :meth:`rows` return
    ``(h, w, C)`` with read_image's values (booleans as 0/255, floats as float32, other integers
    in native byte order: see :func:`read_dtype` for read_image's final dtype). :meth:`raw` gives
    the stored channels and dtype.
    """

    row_align = 1
    """Rows of one strip or row of tiles of the file (1: any rows are read alike); see :func:`strips`."""
    nan_as: float | None = None
    """As for :func:`~segtrain.data.readers.read_image`: NaN and infinite pixels read as this value; None
    refuses a window holding them (:class:`~segtrain.data.readers.NonFiniteError`, fix :attr:`nonfinite_fix`)."""
    nonfinite_fix: str = NONFINITE_FIX
    refuse_nonfinite: bool = True
    """False: windows keep NaN and infinities as stored (the data check counts them over the whole image)."""

    def __init__(self, path: Path, dtype: np.dtype, height: int, width: int, channels: int):
        self.path, self.dtype, self.stored = path, np.dtype(dtype), channels
        self.keep = {2: 1, 4: 3}.get(channels, channels)  # alpha is dropped
        self.shape = (height, width, self.keep)

    def window(self, top: int, left: int, height: int, width: int) -> np.ndarray:
        """Pixels ``[top, top + height) x [left, left + width)``, ``(height, width, C)``."""
        arr = self.raw(top, left, height, width)[..., :self.keep]
        if arr.dtype == np.bool_:
            return arr.astype(np.uint8) * 255
        if arr.dtype.kind == "f":
            arr = arr.astype(np.float32, copy=False)
            return finite_pixels(self.path, arr, self.nan_as, self.nonfinite_fix) if self.refuse_nonfinite else arr
        return arr.astype(arr.dtype.newbyteorder("="), copy=False)

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``[start, stop)`` over the whole width, ``(stop - start, W, C)``."""
        return self.window(start, 0, stop - start, self.shape[1])

    def raw(self, top: int, left: int, height: int, width: int) -> np.ndarray:
        """The window as stored: ``(height, width, stored channels)`` of the file's dtype."""
        full_h, full_w = self.shape[:2]
        if not (0 <= top and 0 <= left and height >= 0 and width >= 0 and top + height <= full_h
                and left + width <= full_w):
            raise ValueError(f"window {top}:{top + height}, {left}:{left + width} outside the image "
                             f"({full_h}x{full_w})")
        return self._read(top, left, height, width)

    def _read(self, top: int, left: int, height: int, width: int) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Mapped(ImageWindows):
    """An uncompressed contiguous TIFF through ``tifffile.memmap``; read pages are released after each window."""

    def __init__(self, path: Path, array: np.memmap):
        while array.ndim > 3 and array.shape[0] == 1:
            array = array[0]
        self.planar, height, width, channels = _layout(path, array.shape)
        self.array = array
        super().__init__(path, array.dtype, height, width, channels)

    def _read(self, top, left, height, width):
        arr, rows, cols = self.array, slice(top, top + height), slice(left, left + width)
        window = np.moveaxis(arr[:, rows, cols], 0, -1) if self.planar else arr[rows, cols]
        window = np.array(window if window.ndim == 3 else window[..., None])  # a copy: the mapping stays on disk
        with contextlib.suppress(AttributeError, ValueError, OSError):
            arr._mmap.madvise(mmap.MADV_DONTNEED)  # the file's pages stay cached, just not in this process
        return window

    def close(self):
        self.array = None


class _Segmented(ImageWindows):
    """A striped or tiled TIFF: a window decodes only the strips or tiles it overlaps."""

    def __init__(self, path: Path, tif):
        page = tif.pages[0]
        planes, depth, height, width, samples = page.shaped
        if depth != 1:
            raise UserError(f"{path}: a volume ({depth} slices) cannot be read as one 2D image; save one slice per file")
        self.tif, self.page, self.planes = tif, page, planes
        self.seg_h = page.tilelength if page.is_tiled else min(page.rowsperstrip or height, height)
        self.seg_w = page.tilewidth if page.is_tiled else width
        self.grid = (math.ceil(height / self.seg_h), math.ceil(width / self.seg_w))
        self.row_align = self.seg_h
        self._cache: dict[int, np.ndarray | None] = {}  # segment index -> decoded, for the last read
        super().__init__(path, page.dtype, height, width, planes * samples)

    def _segment(self, index: int) -> np.ndarray | None:
        """Segment ``index`` decoded as ``(rows, cols, samples)``; None for an empty (all-zero) one."""
        if index in self._cache:
            return self._cache[index]
        page = self.page
        if not page.databytecounts[index]:
            return None
        fh = self.tif.filehandle
        fh.seek(page.dataoffsets[index])
        segment = page.decode(fh.read(page.databytecounts[index]), index, jpegtables=page.jpegtables)[0]
        return segment[0]

    def _read(self, top, left, height, width):
        full_h, full_w = self.shape[:2]
        out = np.zeros((height, width, self.stored), self.dtype)
        rows, cols = self.grid
        needed = [(plane, r, c) for plane in range(self.planes)
                  for r in range(top // self.seg_h, min(math.ceil((top + height) / self.seg_h), rows))
                  for c in range(left // self.seg_w, min(math.ceil((left + width) / self.seg_w), cols))]
        indices = {(plane * rows + r) * cols + c for plane, r, c in needed}
        self._cache = {i: s for i, s in self._cache.items() if i in indices}  # a strip-by-strip pass decodes
        for plane, r, c in needed:                                              # each segment once
            index = (plane * rows + r) * cols + c
            segment = self._cache[index] = self._segment(index)
            if segment is None:
                continue  # an empty segment is zeros
            y, x = r * self.seg_h, c * self.seg_w
            y0, y1 = max(top, y), min(top + height, y + segment.shape[0], full_h)
            x0, x1 = max(left, x), min(left + width, x + segment.shape[1], full_w)
            channels = slice(plane, plane + 1) if self.planes > 1 else slice(None)
            out[y0 - top:y1 - top, x0 - left:x1 - left, channels] = segment[y0 - y:y1 - y, x0 - x:x1 - x]
        return out

    def close(self):
        self._cache = {}
        self.tif.close()


def open_windows(path: Path | str) -> ImageWindows:
    """Window access to the first image of a TIFF; :class:`UserError` when it cannot be read by windows."""
    import tifffile

    path = Path(path)
    check_file(path)  # not a regular file, empty, or a header that lies: refused as such, before any work
    try:
        tif = tifffile.TiffFile(path)
    except (OSError, ValueError, tifffile.TiffFileError) as exc:
        raise UserError(f"{path}: not a readable TIFF ({exc}); re-export the file") from None
    series = tif.series[0]
    try:
        array = tifffile.memmap(path, series=0, mode="r")
    except ValueError:  # compressed, tiled or scattered data
        if len(series.pages) > 1:
            tif.close()
            raise UserError(f"{path}: a compressed multi-page TIFF too large for memory; save the image as "
                            "one page (or uncompressed) to read it by windows") from None
        windows = _Segmented(path, tif)
        try:  # a codec tifffile lacks shows on the first segment, before any work
            windows.raw(0, 0, 1, 1)
        except Exception as exc:
            compression = windows.page.compression.name
            windows.close()
            raise decode_failed(path, exc, None if compression == "NONE" else compression) from None  # told apart
        return windows
    tif.close()
    return _Mapped(path, array)


def _layout(path: Path, shape) -> tuple[bool, int, int, int]:
    """``(planar, H, W, C)`` of an image array's shape, as :func:`~segtrain.data.readers.read_image` lays it out."""
    shape = list(shape)
    while len(shape) > 3 and shape[0] == 1:
        shape.pop(0)
    if len(shape) == 3 and shape[-1] not in (1, 2, 3, 4) and shape[0] in (1, 3, 4) and min(shape[1:]) > 4:
        return True, shape[1], shape[2], shape[0]
    if len(shape) == 2:
        return False, shape[0], shape[1], 1
    if len(shape) == 3 and shape[-1] in (1, 2, 3, 4):
        return False, shape[0], shape[1], shape[2]
    raise UserError(f"{path}: unsupported TIFF of shape {tuple(shape)}; save one 2D gray or RGB image per file")


class MaskWindows:
    """Windows of a TIFF mask with :func:`~segtrain.data.readers.read_mask`'s values, ``(h, w)``.

    With ``colour`` False: the gray values (the first channel of a gray-as-RGB mask; a colour-coded
    mask raises :class:`~segtrain.data.readers.ColourMaskError` at the first window showing it),
    as ``uint8``/``uint16`` when so stored, other types as ``int64``. With ``colour`` True: ``int32``
    packed colours ``R * 65536 + G * 256 + B``. Read errors are
    :class:`~segtrain.data.readers.ReadError` naming the file, as read_mask's.
    """

    def __init__(self, source: ImageWindows, colour: bool = False):
        self.source, self.colour, self.path = source, colour, source.path
        self.shape, self.row_align = source.shape[:2], source.row_align

    def window(self, top: int, left: int, height: int, width: int) -> np.ndarray:
        arr = self.source.raw(top, left, height, width)
        return colour_values(self.path, arr) if self.colour else mask_values(self.path, arr, narrow=False)

    def rows(self, start: int, stop: int) -> np.ndarray:
        return self.window(start, 0, stop - start, self.shape[1])

    def close(self) -> None:
        self.source.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_mask_windows(path: Path | str, colour: bool = False) -> MaskWindows:
    """Window access to a one-page TIFF mask (see :class:`MaskWindows`); a mask in another format, or a
    multi-page TIFF, is a :class:`UserError` naming the file and the fix."""
    import tifffile

    path = Path(path)
    if path.suffix.lower() not in TIFF_SUFFIXES:
        raise UserError(f"{path}: the mask of an image too large for memory must be a TIFF to be read by windows; "
                        f"save it as {path.with_suffix('.tif').name} (tiled, zlib-compressed)")
    try:
        with tifffile.TiffFile(path) as tif:
            pages = len(tif.pages)
    except (OSError, ValueError, tifffile.TiffFileError) as exc:
        raise ReadError(path, f"not a readable TIFF ({exc})") from None
    if pages > 1:
        raise ReadError(path, f"multi-page TIFF mask ({pages} pages)",
                        "save one page with one class index per pixel (multilabel masks of images too large "
                        "for memory are not read by windows)")
    return MaskWindows(open_windows(path), colour)


def strip_height(width: int, bytes_per_pixel: int, strip_bytes: int | None = None) -> int:
    """Rows per strip so that ``rows x width x bytes_per_pixel`` stays within ``strip_bytes``
    (default :data:`STRIP_BYTES`, read at call time); at least 1."""
    budget = STRIP_BYTES if strip_bytes is None else strip_bytes
    return max(1, int(budget) // max(1, width * bytes_per_pixel))


def strips(height: int, step: int, *readers) -> list[tuple[int, int]]:
    """``(start, stop)`` strips of at most ``step`` rows covering ``height`` rows; strips shorter than a
    segment row (strip or row of tiles) of one of ``readers`` never cross one, so each segment is decoded
    once and only one row of segments per reader is kept."""
    aligns = [r.row_align for r in readers if 1 < r.row_align and step < r.row_align]
    out, start = [], 0
    while start < height:
        stop = min([start + step, height] + [(start // a + 1) * a for a in aligns])
        out.append((start, stop))
        start = stop
    return out


class Moments:
    """Per-channel count, mean, sum of squared deviations (``M2``), minimum and maximum of pixels added in
    parts, combined exactly in float64: ``M2 = M2_a + M2_b + d^2 n_a n_b / n`` (Chan et al., 1979)."""

    def __init__(self):
        self.count, self.mean, self.m2 = 0, 0.0, 0.0
        self.low, self.high = math.inf, -math.inf
        self.nonfinite = 0  # NaN and infinite values added (they make the moments NaN)

    def add(self, pixels: np.ndarray) -> None:
        """Add ``(..., C)`` pixels of any dtype (made float64 here, one copy)."""
        x = pixels.reshape(-1, pixels.shape[-1]).astype(np.float64)
        if not x.size:
            return
        if pixels.dtype.kind == "f":
            self.nonfinite += int(x.size - np.count_nonzero(np.isfinite(x)))
        self.low, self.high = min(self.low, float(x.min())), max(self.high, float(x.max()))
        n, m = x.shape[0], x.mean(axis=0)
        x -= m
        x *= x
        delta, total = m - self.mean, self.count + n
        self.m2 = self.m2 + x.sum(axis=0) + delta**2 * self.count * n / total
        self.mean, self.count = self.mean + delta * n / total, total

    @property
    def std(self) -> np.ndarray:
        """Per-channel population standard deviation (float64)."""
        return np.sqrt(np.asarray(self.m2) / self.count)

    def overall(self) -> tuple[float, float]:
        """Mean and population standard deviation over all channels together (equal counts per channel)."""
        means, m2 = np.atleast_1d(self.mean), np.atleast_1d(self.m2)
        mean = float(means.mean())
        m2_all = float(m2.sum() + self.count * ((means - mean) ** 2).sum())
        return mean, math.sqrt(m2_all / (self.count * means.size))


def channel_stats(windows: ImageWindows, in_channels: int, strip_bytes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation (float32, population) of the image as the network sees it
    (see :func:`adapt_channels`), gathered over strips of at most ``strip_bytes`` of float64
    (default :data:`STRIP_BYTES`) and combined exactly (:class:`Moments`)."""
    height, width, channels = windows.shape
    step = strip_height(width, max(channels, in_channels) * 8, strip_bytes)
    moments = Moments()
    for start, stop in strips(height, step, windows):
        moments.add(adapt_channels(windows.rows(start, stop), in_channels))
    return np.asarray(moments.mean, np.float32), moments.std.astype(np.float32)


def adapt_channels(strip: np.ndarray, in_channels: int) -> np.ndarray:
    """Gray to RGB or RGB to gray as :meth:`~segtrain.inference.predictor.Predictor.logits` adapts a whole image."""
    if strip.shape[-1] == 1 and in_channels == 3:
        return np.repeat(strip, 3, axis=-1)
    if strip.shape[-1] == 3 and in_channels == 1:
        return strip.mean(axis=-1, keepdims=True)
    return strip
