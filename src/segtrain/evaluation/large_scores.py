"""Validation and evaluation of TIFF images too large for memory, band by band.

The streamed inference of :mod:`segtrain.inference.large` hands the blended logits of each finished
block of rows to a sink; the sinks here read the same rows of the mask (a TIFF, through
:class:`~segtrain.data.windows.MaskWindows`, mapped as :func:`~segtrain.data.labels.read_labels` maps it)
and compare:

- :class:`_Confusion` adds up a confusion matrix and the loss (:func:`confusion_large`, for validation
  inside training, where ``validation_step`` would score a whole image);
- :class:`_Scores` feeds a :class:`~segtrain.metrics.rows.RowScorer` (confusion, boundary and horizon
  scores, :func:`score_large`, for ``evaluate``).

Memory is that of the streamed prediction (one band of logits, one strip of input) plus one band of
labels; the results equal the in-memory path's up to the rounding of the image statistics.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
import torch

from segtrain.data.label_mapping import apply_label_mapping, ignore_label
from segtrain.data.sample_io import refuse_windowed
from segtrain.data.windows import open_mask_windows, open_windows
from segtrain.errors import UserError
from segtrain.inference.large import Network, network_of, stream_logits
from segtrain.inference.tiling import TILES_PER_BATCH, logits_to_classes
from segtrain.metrics.reductions import confusion_counts

logger = logging.getLogger("segtrain")


class _Truth:
    """The mapped labels of a mask, read rows at a time (a sink's other half)."""

    def __init__(self, sample, labels, shape: tuple[int, int]):
        if labels.multilabel or getattr(sample, "labels", ()):
            raise UserError(f"{sample.mask}: multilabel masks of an image too large for memory ({sample.image}) "
                            "cannot be scored by windows; cut the image into smaller tiles")
        self.mask = open_mask_windows(sample.mask, colour=labels.colour)
        self.path, self.mapping = sample.mask, labels.mapping
        if tuple(self.mask.shape) != tuple(shape):
            self.mask.close()
            (mh, mw), (ih, iw) = self.mask.shape, shape
            raise UserError(f"{sample.mask}: size {mh}x{mw} (HxW) differs from its image {sample.image} ({ih}x{iw}); "
                            "resize or re-export the mask")

    def rows(self, start: int, stop: int) -> np.ndarray:
        try:
            return apply_label_mapping(self.mask.rows(start, stop), self.mapping)
        except ValueError as exc:
            raise UserError(f"{self.path}: {exc}; fix the mask or run 'segtrain check' on the dataset again") from None

    def close(self) -> None:
        self.mask.close()


class _Confusion:
    """Sink: the confusion matrix of the decisions against the mask, and the pixel-weighted loss."""

    def __init__(self, network: Network, truth: _Truth, num_classes: int, ignore_index, loss_fn=None, update=None):
        self.network, self.truth, self.num_classes, self.ignore_index = network, truth, num_classes, ignore_index
        self.loss_fn, self.update = loss_fn, update
        self.counts = np.zeros((num_classes, num_classes), dtype=np.int64)
        self.loss_sum, self.pixels = 0.0, 0

    def write(self, start: int, logits: torch.Tensor) -> None:
        truth = self.truth.rows(start, start + logits.shape[2])
        decided = logits_to_classes(logits, self.network.mode, self.network.threshold)
        self.counts += confusion_counts(decided[0].cpu().numpy(), truth, self.num_classes, self.ignore_index)
        target = torch.from_numpy(truth)[None].to(logits.device)
        if self.update is not None:
            self.update(decided, target)
        if self.loss_fn is not None:
            valid = int(truth.size if self.ignore_index is None else np.count_nonzero(truth != self.ignore_index))
            if valid:
                with torch.no_grad():
                    self.loss_sum += float(self.loss_fn(logits, target)) * valid
                self.pixels += valid


class _Scores:
    """Sink: the decisions and the mask rows into a :class:`~segtrain.metrics.rows.RowScorer`."""

    def __init__(self, network: Network, truth: _Truth, scorer):
        self.network, self.truth, self.scorer = network, truth, scorer

    def write(self, start: int, logits: torch.Tensor) -> None:
        decided = logits_to_classes(logits, self.network.mode, self.network.threshold)[0].cpu().numpy()
        self.scorer.add(decided, self.truth.rows(start, start + logits.shape[2]))


class LargeScore(NamedTuple):
    """What :func:`confusion_large` measured on one image."""

    confusion: torch.Tensor
    """``(K, K)`` int64 pixel counts, truth x prediction, ignored pixels left out."""
    loss: float | None
    """Mean of the loss over the bands of rows, each weighted by its counted pixels (None without ``loss_fn``)."""
    pixels: int
    """Pixels counted (not ignored)."""


def confusion_large(
    source, sample, labels, patch: int | None = None, overlap: float | None = None,
    num_classes: int | None = None, ignore_index: int | None = None, loss_fn=None, update=None,
    tiles_per_batch: int = TILES_PER_BATCH,
) -> LargeScore:
    """Confusion counts (and loss) of a network on one image too large for memory, band by band.

    Parameters
    ----------
    source : SegmentationModule, torch.nn.Module or Predictor
        The network (see :func:`network_of`); under validation, the training module itself, whose
        forward, mode and threshold are used (and the trainer's autocast, as in ``validation_step``).
    sample : Sample
        The image (a TIFF) and its mask (a TIFF, one class index or colour per pixel).
    labels : LabelSpec
        How mask values become class indices.
    patch, overlap : optional
        Tiles and their overlap; default the module's ``meta["patch_size"]`` and ``config.train.val_overlap``.
    num_classes, ignore_index : optional
        Default the module's ``meta["num_classes"]`` and ``ignore_index`` (a Predictor's config).
    loss_fn : callable, optional
        ``loss_fn(logits (1, K, h, W), labels (1, h, W))`` for each band; the result is their mean weighted by
        the counted pixels: the whole image's loss for pixel-wise means (cross-entropy without class
        weights, focal), an approximation for region losses (Dice, ...), which are computed per band.
    update : callable, optional
        Also called with ``(decisions (1, h, W), labels (1, h, W))`` tensors per band, e.g. a torchmetrics
        metric's ``update``.

    Returns
    -------
    LargeScore
        ``confusion`` ``(K, K)`` (equal to the in-memory path's up to decisions within float rounding of a
        threshold), ``loss`` and ``pixels``.
    """
    network = network_of(source, patch, overlap)
    meta = getattr(source, "meta", {}) or {}
    if num_classes is None:
        num_classes = int(meta["num_classes"])
    if ignore_index is None:
        ignore_index = _ignore_index(source)
    if network.mode == "multilabel":
        raise UserError(f"{sample.image}: multilabel runs cannot be validated by windows on images too large "
                        "for memory; cut the image into smaller tiles")
    sink = _stream_against_truth(
        network, sample, labels, tiles_per_batch,
        lambda truth, shape: _Confusion(network, truth, num_classes, ignore_index, loss_fn, update))
    loss = sink.loss_sum / sink.pixels if loss_fn is not None and sink.pixels else None
    return LargeScore(torch.from_numpy(sink.counts), loss, sink.pixels)


def score_large(predictor, sample, labels, evaluator, tiles_per_batch: int = TILES_PER_BATCH) -> dict:
    """Score ``predictor`` on one image too large for memory into ``evaluator`` (a
    :class:`~segtrain.metrics.evaluator.SegmentationEvaluator`), band by band; returns the image's row.

    The same numbers as ``evaluator.add(stem, predictor.classes(predictor.logits(image)), labels)``, up to
    decisions within float rounding of a threshold, without a whole image, class map or mask in memory.
    """
    network = network_of(predictor)
    if network.mode == "multilabel":
        raise UserError(f"{sample.image}: multilabel runs cannot be evaluated by windows on images too large "
                        "for memory; cut the image into smaller tiles")
    logger.info(f"{sample.image}: too large to score in memory; scoring it by rows of tiles")
    sink = _stream_against_truth(network, sample, labels, tiles_per_batch,
                                 lambda truth, shape: _Scores(network, truth, evaluator.scorer(*shape)))
    return evaluator.add_scores(sample.stem, sink.scorer.result())


def _stream_against_truth(network, sample, labels, tiles_per_batch: int, make_sink):
    """Stream ``sample``'s image through ``network`` into the sink ``make_sink(truth, (H, W))`` builds
    (``truth`` reads the mask's rows); both files are closed afterwards. Returns the sink."""
    refuse_windowed(sample)
    windows = open_windows(sample.image)
    try:
        truth = _Truth(sample, labels, windows.shape[:2])
        try:
            sink = make_sink(truth, windows.shape[:2])
            stream_logits(network, windows, sink, tiles_per_batch)
            return sink
        finally:
            truth.close()
    finally:
        windows.close()


def _ignore_index(source):
    if hasattr(source, "ignore_index"):
        return source.ignore_index
    config = getattr(source, "config", None)
    return ignore_label(config.data) if config is not None else None
