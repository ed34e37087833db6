"""Prediction of TIFF images too large to hold in memory, one row of tiles at a time.

The in-memory path (:meth:`Predictor.logits`) holds the image, a float32 copy, the logits, the
weights and the decisions at once: about :func:`in_memory_bytes` for an image. Above
:data:`MEMORY_FRACTION` of the available memory, ``predict`` streams instead:

1. the per-channel mean and standard deviation (the same z-scoring as
   :func:`~segtrain.data.transforms.normalize`) are gathered over strips of rows, combined
   exactly in float64 (Chan et al.'s pairwise update);
2. for each row of tiles (the same grid and Gaussian blend as
   :func:`~segtrain.inference.tiling.tiled_logits`), its rows are read, normalised and run
   through the network; the weighted logits go into a band as tall as a tile;
3. the rows no later tile touches are divided by their weights, decided and written into
   TIFFs created at full size on disk (``<stem>.tif``, ``<stem>_<label>.tif``,
   ``<stem>_prob.tif``), and the band moves down.

Peak memory is one band of logits and one strip of input, ``(K + C) x patch x width`` floats,
plus the network's activations for the tiles in flight, whatever the height. The blend adds the
same products in the same order as the in-memory path, so the logits agree with it up to the
rounding of the mean and standard deviation.

Windows are read from uncompressed contiguous TIFFs through ``tifffile.memmap``, and from
striped or tiled (also compressed) TIFFs by decoding only the strips or tiles a window needs
with tifffile's own decoders (zlib, LZMA and, with ``imagecodecs`` installed, the rest).
"""

from __future__ import annotations

import contextlib
import logging
import math
import mmap
from pathlib import Path

import numpy as np
import torch

from segtrain.data.transforms import STD_FLOOR
from segtrain.errors import UserError
from segtrain.inference.tiling import (
    TILES_PER_BATCH, Span, Tile, accumulate, gaussian_weight, logits_to_classes, logits_to_probabilities,
    run_tiles, spans,
)

logger = logging.getLogger("segtrain")

MEMORY_FRACTION = 0.5
"""An image is streamed when the in-memory path would need more than this share of the memory
available (the rest is left to the network's activations, the writers and other programs)."""
STRIP_BYTES = 64 * 2**20
"""Size of the float64 strips the statistics pass reads at a time."""
TIFF_SUFFIXES = (".tif", ".tiff")


def in_memory_bytes(height: int, width: int, channels: int, itemsize: int, outputs: int) -> int:
    """Estimated peak bytes of predicting an image in memory: the image as read, its float32 copy and
    the temporaries of z-scoring (3 x 4 bytes per channel), logits and probabilities (2 x 4 bytes per
    output), the weight sum (4) and the int64 decisions with their mapped copy (16)."""
    return height * width * (channels * itemsize + 12 * channels + 8 * outputs + 20)


class ImageWindows:
    """Rows of a TIFF image as :func:`~segtrain.data.readers.read_image` would give them.

    ``shape`` is ``(H, W, C)`` after dropping alpha; :meth:`rows` returns ``(h, W, C)`` with
    read_image's values (booleans as 0/255, floats as float32).
    """

    def __init__(self, path: Path, dtype: np.dtype, height: int, width: int, channels: int):
        self.path, self.dtype = path, np.dtype(dtype)
        self.keep = {2: 1, 4: 3}.get(channels, channels)  # alpha is dropped
        self.shape = (height, width, self.keep)

    def rows(self, start: int, stop: int) -> np.ndarray:
        arr = self._read(start, stop)[..., :self.keep]
        if arr.dtype == np.bool_:
            return arr.astype(np.uint8) * 255
        if arr.dtype.kind == "f":
            return arr.astype(np.float32, copy=False)
        return arr.astype(arr.dtype.newbyteorder("="), copy=False)

    def _read(self, start: int, stop: int) -> np.ndarray:  # (h, W, channels as stored)
        raise NotImplementedError

    def close(self) -> None:
        pass


class _Mapped(ImageWindows):
    """An uncompressed contiguous TIFF through ``tifffile.memmap``; read pages are released after each window."""

    def __init__(self, path: Path, array: np.memmap):
        while array.ndim > 3 and array.shape[0] == 1:
            array = array[0]
        self.planar, height, width, channels = _layout(path, array.shape)
        self.array = array
        super().__init__(path, array.dtype, height, width, channels)

    def _read(self, start, stop):
        arr = self.array
        window = np.moveaxis(arr[:, start:stop], 0, -1) if self.planar else arr[start:stop]
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
            raise UserError(f"{path}: a volume ({depth} slices) cannot be predicted as one 2D image")
        self.tif, self.page, self.planes = tif, page, planes
        self.seg_h = page.tilelength if page.is_tiled else min(page.rowsperstrip or height, height)
        self.seg_w = page.tilewidth if page.is_tiled else width
        self.grid = (math.ceil(height / self.seg_h), math.ceil(width / self.seg_w))
        super().__init__(path, page.dtype, height, width, planes * samples)

    def _read(self, start, stop):
        height, width = self.shape[:2]
        out = np.zeros((stop - start, width, self.planes * self.page.shaped[-1]), self.dtype)
        rows, cols = self.grid
        fh = self.tif.filehandle
        for plane in range(self.planes):
            for r in range(start // self.seg_h, min(math.ceil(stop / self.seg_h), rows)):
                for c in range(cols):
                    index = (plane * rows + r) * cols + c
                    if not self.page.databytecounts[index]:
                        continue  # an empty segment is zeros
                    fh.seek(self.page.dataoffsets[index])
                    segment, (_, _, y, x, _), _ = self.page.decode(
                        fh.read(self.page.databytecounts[index]), index, jpegtables=self.page.jpegtables)
                    segment = segment[0]
                    top, bottom = max(start, y), min(stop, y + segment.shape[0], height)
                    right = min(x + segment.shape[1], width)
                    channels = slice(plane, plane + 1) if self.planes > 1 else slice(None)
                    out[top - start:bottom - start, x:right, channels] = segment[top - y:bottom - y, :right - x]
        return out

    def close(self):
        self.tif.close()


def open_windows(path: Path | str) -> ImageWindows:
    """Window access to the first image of a TIFF; :class:`UserError` when it cannot be read by windows."""
    import tifffile

    path = Path(path)
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
                            "one page (or uncompressed) to predict it by windows") from None
        windows = _Segmented(path, tif)
        try:  # a codec tifffile lacks shows on the first segment, before any work
            windows.rows(0, 1)
        except Exception as exc:
            windows.close()
            raise UserError(f"{path}: cannot decode its {windows.page.compression.name} data by tiles ({exc}); "
                            "pip install imagecodecs, or save it uncompressed") from None
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


def should_stream(path: Path | str, predictor, available: int | None = None) -> bool:
    """Whether ``path`` is a TIFF whose in-memory prediction (:func:`in_memory_bytes`) would need more
    than :data:`MEMORY_FRACTION` of ``available`` bytes (default: the memory available now)."""
    path = Path(path)
    if path.suffix.lower() not in TIFF_SUFFIXES:
        return False
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            _, height, width, channels = _layout(path, series.shape)
            itemsize = series.dtype.itemsize
    except Exception:  # unreadable or unsupported: the ordinary reader says why
        return False
    channels = max(channels, predictor.in_channels)
    need = in_memory_bytes(height, width, channels, itemsize, int(predictor.meta["num_classes"]))
    if available is None:
        from segtrain.planning.batch import available_memory_bytes

        available = available_memory_bytes()
    return need > MEMORY_FRACTION * available


def channel_stats(windows: ImageWindows, in_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation (float32, population) of the image as the network sees it,
    gathered over strips and combined in float64: ``M2 = M2_a + M2_b + d^2 n_a n_b / n`` (Chan et al., 1979)."""
    height, width, channels = windows.shape
    step = max(1, STRIP_BYTES // (width * max(channels, in_channels) * 8))
    count, mean, m2 = 0, 0.0, 0.0
    for start in range(0, height, step):
        x = _as_input(windows.rows(start, min(start + step, height)), in_channels)
        x = x.reshape(-1, x.shape[-1]).astype(np.float64)
        n, m = x.shape[0], x.mean(axis=0)
        x -= m
        x *= x
        delta, total = m - mean, count + n
        m2 = m2 + x.sum(axis=0) + delta**2 * count * n / total
        mean, count = mean + delta * n / total, total
    return np.asarray(mean, np.float32), np.sqrt(m2 / count).astype(np.float32)


def _as_input(strip: np.ndarray, in_channels: int) -> np.ndarray:
    """Gray to RGB or RGB to gray as :meth:`Predictor.logits` adapts a whole image."""
    if strip.shape[-1] == 1 and in_channels == 3:
        return np.repeat(strip, 3, axis=-1)
    if strip.shape[-1] == 3 and in_channels == 1:
        return strip.mean(axis=-1, keepdims=True)
    return strip


class _Writer:
    """Output TIFFs created at full size on disk and filled rows at a time, at their file offsets
    (so written rows do not stay in this process's memory)."""

    def __init__(self, predictor, out: Path, stem: str, height: int, width: int, values: dict, probabilities: bool):
        meta = predictor.meta
        self.predictor, self.height, self.width = predictor, height, width
        self.labels = meta.get("multilabel")
        self.colour = bool(meta.get("colour_masks"))
        self.masks: list[tuple[Path, int, np.dtype]] = []
        self.lut = None
        classes = int(meta["num_classes"])
        if self.labels:
            for name in self.labels:
                self.masks.append(self._create(out / f"{stem}_{name}.tif", (height, width), np.uint8))
        elif self.colour:
            self.masks.append(self._create(out / f"{stem}.tif", (height, width, 3), np.uint8, photometric="rgb"))
        else:
            top = max([classes - 1, *values.values()]) if values else max(classes - 1, 1)
            self.masks.append(self._create(out / f"{stem}.tif", (height, width), np.uint8 if top < 256 else np.uint16))
        if values and not self.labels:  # class index -> the value (or packed colour) of the training masks
            self.lut = np.arange(max(classes, max(values) + 1))
            for cls, raw in values.items():
                self.lut[cls] = raw
        self.target = self.masks[0][0]
        self.probabilities = out / f"{stem}_prob.tif" if probabilities else None
        self.planes: tuple[Path, int, np.dtype] | None = None  # created at the first rows, when K is known

    @staticmethod
    def _create(path: Path, shape: tuple, dtype, **kwargs) -> tuple[Path, int, np.dtype]:
        import tifffile

        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        array = tifffile.memmap(path, shape=shape, dtype=dtype, bigtiff=nbytes > 2**31 - 2**25, **kwargs)
        offset = int(array.offset)
        del array
        return path, offset, np.dtype(dtype)

    def _write(self, file: tuple[Path, int, np.dtype], start: int, rows: np.ndarray, planes: int = 0) -> None:
        """Rows ``start...`` of an ``(H, W[, 3])`` file, or of each plane of a ``(planes, H, W)`` file."""
        path, offset, dtype = file
        rows = np.ascontiguousarray(rows, dtype=dtype)
        with path.open("r+b") as handle:
            if not planes:
                handle.seek(offset + start * rows[0].nbytes)
                handle.write(rows.tobytes())
                return
            for k, plane in enumerate(rows):
                handle.seek(offset + (k * self.height + start) * plane[0].nbytes)
                handle.write(plane.tobytes())

    def write(self, start: int, logits: torch.Tensor) -> None:
        """Decisions (and probabilities) of rows ``start...`` from their blended logits ``(1, K, h, W)``."""
        predictor = self.predictor
        classes = logits_to_classes(logits, predictor.mode, predictor.threshold)[0].cpu().numpy()
        if self.labels:
            for mask, label in zip(self.masks, classes):
                self._write(mask, start, label * 255)
        else:
            values = self.lut[classes] if self.lut is not None else classes
            if self.colour:
                values = np.stack([(values >> 16) & 255, (values >> 8) & 255, values & 255], axis=-1)
            self._write(self.masks[0], start, values)
        if self.probabilities is not None:
            p = logits_to_probabilities(logits, predictor.mode)[0].float().cpu().numpy()
            if self.planes is None:
                self.planes = self._create(self.probabilities, (p.shape[0], self.height, self.width), np.float32)
            self._write(self.planes, start, p, planes=p.shape[0])


def predict_large(
    predictor, path: Path | str, out: Path | str, probabilities: bool = False, values: dict | None = None,
    tiles_per_batch: int = TILES_PER_BATCH,
) -> Path:
    """Predict one large TIFF by rows of tiles and write its masks as TIFFs; returns the (first) mask written.

    Parameters
    ----------
    predictor : Predictor
        The network, its tile size, overlap, decision rule and precision.
    path : Path or str
        The image (a TIFF; see :func:`open_windows` for the layouts read by windows).
    out : Path or str
        Folder of the outputs: ``<stem>.tif`` (or ``<stem>_<label>.tif`` per label), and with
        ``probabilities`` ``<stem>_prob.tif`` (float32, ``(K, H, W)``).
    values : dict, optional
        Class index -> the value written (see :func:`~segtrain.inference.writers.mask_values`).
    """
    path, out = Path(path), Path(out)
    if path.resolve() in ((out / f"{path.stem}.tif").resolve(), (out / f"{path.stem}.tiff").resolve()):
        raise UserError(f"{path}: its mask would be written over it ({out / path.name}); pass another output folder")
    windows = open_windows(path)
    out.mkdir(parents=True, exist_ok=True)
    try:
        height, width, _ = windows.shape
        logger.info(f"{path}: {width}x{height} is too large to predict in memory; reading it by windows, "
                    f"writing TIFF masks row by row")
        mean, std = channel_stats(windows, predictor.in_channels)
        scale = np.maximum(std, STD_FLOOR)[:, None, None]
        writer = _Writer(predictor, out, path.stem, height, width, values or {}, probabilities)
        patch, device = predictor.patch, predictor.device
        rows, cols = spans(height, patch, predictor.overlap), spans(width, patch, predictor.overlap)
        weight = gaussian_weight(patch, patch, device=device)
        band_h = rows[0].stop - rows[0].start
        band = band_w = None
        autocast = torch.autocast(device, dtype=torch.bfloat16) if predictor.bf16 else contextlib.nullcontext()
        for i, row in enumerate(rows):
            strip = _as_input(windows.rows(row.start, row.stop), predictor.in_channels)
            x = np.ascontiguousarray(np.moveaxis(strip, -1, 0), dtype=np.float32)
            del strip
            x -= mean[:, None, None]  # in place: normalize()'s (x - mean) / max(std, floor), one copy of the strip
            x /= scale
            source = torch.from_numpy(x)[None].to(device)
            local = Span(0, row.stop - row.start, row.before, row.after)
            with autocast:
                for done, logits in run_tiles(predictor.model, source, [Tile(0, local, col) for col in cols],
                                              patch, tiles_per_batch):
                    if band is None:
                        band = torch.zeros((1, logits.shape[1], band_h, width), dtype=torch.float32, device=device)
                        band_w = torch.zeros((1, 1, band_h, width), dtype=torch.float32, device=device)
                    accumulate(band, band_w, done, logits, weight)
            final = (rows[i + 1].start if i + 1 < len(rows) else height) - row.start
            writer.write(row.start, band[:, :, :final] / band_w[:, :, :final])
            band = torch.cat([band[:, :, final:], torch.zeros_like(band[:, :, :final])], dim=2)
            band_w = torch.cat([band_w[:, :, final:], torch.zeros_like(band_w[:, :, :final])], dim=2)
        return writer.target
    finally:
        windows.close()
