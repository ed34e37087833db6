"""Inference on TIFF images too large to hold in memory, one row of tiles at a time.

The in-memory path (:meth:`Predictor.logits`) holds the image, a float32 copy, the logits, the
weights and the decisions at once: about :func:`in_memory_bytes` for an image. Above
:data:`MEMORY_FRACTION` of the available memory, ``predict`` streams instead
(:func:`stream_logits`):

1. the per-channel mean and standard deviation (the same z-scoring as
   :func:`~segtrain.data.normalize.normalize`) are gathered over strips of rows, combined
   exactly in float64 (:func:`~segtrain.data.windows.channel_stats`);
2. for each row of tiles (the same grid and Gaussian blend as
   :func:`~segtrain.inference.tiling.tiled_logits`), its rows are read, normalised and run
   through the network; the weighted logits go into a band as tall as a tile;
3. the rows no later tile touches are divided by their weights and handed to a *sink*, and the
   band moves down. A sink has one method, ``write(start, logits)``, for the blended logits
   ``(1, K, h, W)`` of rows ``start ... start + h - 1``, in order from the top:

   - :class:`_Writer` decides them and writes them into TIFFs created at full size on disk
     (``<stem>.tif``, ``<stem>_<label>.tif``, ``<stem>_prob.tif``): :func:`predict_large`;
   - :mod:`segtrain.evaluation.large_scores` compares the decisions with the same rows of the mask:
     a confusion matrix (and the loss) for validation (:func:`~segtrain.evaluation.large_scores.confusion_large`),
     or every score of the evaluator for evaluation (:func:`~segtrain.evaluation.large_scores.score_large`).

Peak memory is one band of logits and one strip of input, ``(K + C) x patch x width`` floats,
plus the network's activations for the tiles in flight, whatever the height. The blend adds the
same products in the same order as the in-memory path, so the logits agree with it up to the
rounding of the mean and standard deviation. Windows are read by :mod:`segtrain.data.windows`.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from segtrain.data.headers import header_lie, not_regular
from segtrain.data.normalize import STD_FLOOR
from segtrain.data.readers import PREDICT_NONFINITE_FIX
from segtrain.data.windows import (  # ImageWindows, channel_stats, open_windows are used through here too
    STRIP_BYTES,
    TIFF_SUFFIXES,
    ImageWindows,
    _layout,
    adapt_channels,
    channel_stats,
    open_windows,
)
from segtrain.errors import UserError
from segtrain.inference.tiling import (
    TILES_PER_BATCH,
    Span,
    Tile,
    accumulate,
    gaussian_weight,
    logits_to_classes,
    logits_to_probabilities,
    run_tiles,
    spans,
)
from segtrain.inference.writers import mask_dtype
from segtrain.runtime.env import available_memory_bytes

logger = logging.getLogger("segtrain")

SCAN_ROWS = 256
"""Rows read at a time when a float image too large for memory is first scanned for NaN and infinities."""

MEMORY_FRACTION = 0.5
"""An image is streamed when the in-memory path would need more than this share of the memory
available (the rest is left to the network's activations, the writers and other programs)."""


def in_memory_bytes(height: int, width: int, channels: int, itemsize: int, outputs: int) -> int:
    """Estimated peak bytes of predicting an image in memory: the image as read, its float32 copy and
    the temporaries of z-scoring (3 x 4 bytes per channel), logits and probabilities (2 x 4 bytes per
    output), the weight sum (4) and the int64 decisions with their mapped copy (16)."""
    return height * width * (channels * itemsize + 12 * channels + 8 * outputs + 20)


def should_stream(path: Path | str, predictor, available: int | None = None) -> bool:
    """Whether ``path`` is a TIFF whose in-memory prediction (:func:`in_memory_bytes`) would need more
    than :data:`MEMORY_FRACTION` of ``available`` bytes (default: the memory available now)."""
    path = Path(path)
    if path.suffix.lower() not in TIFF_SUFFIXES or not_regular(path) is not None or header_lie(path) is not None:
        return False  # a FIFO is never opened, a header that lies never trusted: the reader refuses them
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
        available = available_memory_bytes()
    return need > MEMORY_FRACTION * available


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
            self.masks.append(self._create(out / f"{stem}.tif", (height, width), mask_dtype(values, classes)))
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


class Network(NamedTuple):
    """What streamed inference needs of a network: from a :class:`~segtrain.inference.predictor.Predictor`
    or a training module (:func:`network_of`)."""

    model: torch.nn.Module
    patch: int
    overlap: float
    in_channels: int | None  # None: the image's channels as they are
    device: torch.device
    bf16: bool  # run under bfloat16 autocast here (a training module runs under the trainer's autocast)
    mode: str | None
    threshold: float


def network_of(source, patch: int | None = None, overlap: float | None = None) -> Network:
    """A :class:`Network` of a ``Predictor``, or of a ``torch.nn.Module`` such as the training module
    (its ``meta`` and ``config`` give the patch, overlap and input channels when present; its ``mode`` and
    ``threshold`` the decision rule)."""
    if isinstance(source, torch.nn.Module):
        meta, config = getattr(source, "meta", {}) or {}, getattr(source, "config", None)
        parameter = next(source.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        patch = patch if patch is not None else int(meta["patch_size"])
        overlap = overlap if overlap is not None else (config.train.val_overlap if config is not None else 0.25)
        channels = meta.get("in_channels")
        return Network(source, int(patch), float(overlap), None if channels is None else int(channels), device,
                       False, getattr(source, "mode", None), float(getattr(source, "threshold", 0.5)))
    return Network(source.model, int(patch or source.patch), float(source.overlap if overlap is None else overlap),
                   source.in_channels, torch.device(source.device), bool(source.bf16), source.mode,
                   float(source.threshold))


def stream_logits(network: Network, windows: ImageWindows, sink, tiles_per_batch: int = TILES_PER_BATCH) -> None:
    """Blend the logits of ``windows``' image row of tiles by row of tiles and hand every finished block
    of rows to ``sink.write(start, logits)`` (``(1, K, h, W)`` float32), top to bottom."""
    height, width, channels = windows.shape
    in_channels = network.in_channels or channels
    mean, std = channel_stats(windows, in_channels, STRIP_BYTES)
    scale = np.maximum(std, STD_FLOOR)[:, None, None]
    patch, device = network.patch, network.device
    rows, cols = spans(height, patch, network.overlap), spans(width, patch, network.overlap)
    weight = gaussian_weight(patch, patch, device=device)
    band_h = rows[0].stop - rows[0].start
    band = band_w = None
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if network.bf16 else contextlib.nullcontext()
    for i, row in enumerate(rows):
        strip = adapt_channels(windows.rows(row.start, row.stop), in_channels)
        x = np.ascontiguousarray(np.moveaxis(strip, -1, 0), dtype=np.float32)
        del strip
        x -= mean[:, None, None]  # in place: normalize()'s (x - mean) / max(std, floor), one copy of the strip
        x /= scale
        source = torch.from_numpy(x)[None].to(device)
        local = Span(0, row.stop - row.start, row.before, row.after)
        with autocast:
            for done, logits in run_tiles(network.model, source, [Tile(0, local, col) for col in cols],
                                          patch, tiles_per_batch):
                if band is None:
                    band = torch.zeros((1, logits.shape[1], band_h, width), dtype=torch.float32, device=device)
                    band_w = torch.zeros((1, 1, band_h, width), dtype=torch.float32, device=device)
                accumulate(band, band_w, done, logits, weight)
        final = (rows[i + 1].start if i + 1 < len(rows) else height) - row.start
        sink.write(row.start, band[:, :, :final] / band_w[:, :, :final])
        band = torch.cat([band[:, :, final:], torch.zeros_like(band[:, :, :final])], dim=2)
        band_w = torch.cat([band_w[:, :, final:], torch.zeros_like(band_w[:, :, :final])], dim=2)


def predict_large(
    predictor, path: Path | str, out: Path | str, probabilities: bool = False, values: dict | None = None,
    tiles_per_batch: int = TILES_PER_BATCH, nan_as: float | None = None,
) -> Path:
    """Predict one large TIFF by rows of tiles and write its masks as TIFFs; returns the (first) mask written.

    NaN and infinite pixels are refused (naming ``--nan-as``) unless ``nan_as`` says what to read them as.

    Parameters
    ----------
    predictor : Predictor
        The network, its tile size, overlap, decision rule and precision.
    path : Path or str
        The image (a TIFF; see :func:`~segtrain.data.windows.open_windows` for the layouts read by windows).
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
    windows.nan_as, windows.nonfinite_fix = nan_as, PREDICT_NONFINITE_FIX
    try:
        height, width, _ = windows.shape
        if windows.dtype.kind == "f" and nan_as is None:  # refused before any line or file, not half-way
            for start in range(0, height, SCAN_ROWS):
                windows.rows(start, min(height, start + SCAN_ROWS))
        out.mkdir(parents=True, exist_ok=True)
        logger.info(f"{path}: {width}x{height} is too large to predict in memory; reading it by windows, "
                    f"writing TIFF masks row by row")
        writer = _Writer(predictor, out, path.stem, height, width, values or {}, probabilities)
        stream_logits(network_of(predictor), windows, writer, tiles_per_batch)
        return writer.target
    finally:
        windows.close()
