"""Whole-image inference by overlapping tiles blended with Gaussian weights.

Training sees patches; validation, testing and prediction see whole images of any size
through the same function, so the scores measure what ``predict`` delivers.

The result equals MONAI's ``sliding_window_inference(image, (patch, patch), ..., mode="gaussian",
padding_mode="replicate")`` to float rounding: the same tile grid (:func:`tile_starts`), the same
importance map (:func:`gaussian_weight`), the same padding of images smaller than a tile, the
same order of summation. It is faster on the CPU for two measured reasons (``bench/inference.py``):
tiles are handed to the network in the channels-last layout, which oneDNN's convolutions run
faster (MONAI passes slices of the NCHW image), and :data:`TILES_PER_BATCH` tiles go through the
network at once. It also skips MONAI's per-call work around the network: a padded copy of
the whole image when one side is shorter than a tile, the importance map rebuilt on every call,
a whole-batch product before the scatter. Only one batch of tiles' logits is alive at a time;
each is weighted and added into a preallocated float32 output as soon as it is computed.
"""

from __future__ import annotations

import functools
import math
from typing import Iterator, NamedTuple

import torch
from torch.nn import functional as F

TILES_PER_BATCH = 8
"""Tiles per forward pass. Measured on a 2-core CPU with bf16 (AMX) and the default U-Net at 256x256
tiles (``bench/inference.py``, channels-last): per-tile time falls from 1 to 4 tiles per batch and
is flat within noise from 4 to 16 (float32 gains a little more at 16), while the activations grow
linearly with it (about 40 MB per 256x256 tile in float32 for the default U-Net), so 8 takes the
gain at a bounded memory cost; on a GPU 8 tiles keep the device busy for these small networks."""
SIGMA_SCALE = 0.125
"""Standard deviation of the Gaussian importance map as a share of the tile side (MONAI's default)."""
MIN_WEIGHT = 1e-3
"""Floor of the importance map (MONAI clamps its map to at least this), so tile corners still count."""


class Span(NamedTuple):
    """One tile's extent along one axis: source pixels ``[start, stop)`` padded by ``before`` and
    ``after`` edge values to the tile size (padding only when the image is shorter than a tile)."""

    start: int
    stop: int
    before: int = 0
    after: int = 0


class Tile(NamedTuple):
    """One tile: image ``index`` in the batch and its rows and columns."""

    index: int
    rows: Span
    cols: Span


def tile_starts(size: int, patch: int, overlap: float) -> list[int]:
    """First pixels of the tiles along an axis of ``size >= patch`` pixels, as MONAI places them.

    Tiles step by ``int(patch * (1 - overlap))`` (at least 1) until one reaches the end; the last
    is moved back to end on the last pixel (MONAI's ``dense_patch_slices``).
    """
    if size < patch:
        raise ValueError(f"axis of {size} pixels is shorter than the tile ({patch}); pad it first")
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    if size == patch:
        return [0]
    step = max(int(patch * (1 - overlap)), 1)
    count = next(d for d in range(math.ceil(size / step)) if d * step + patch >= size) + 1
    return [min(d * step, size - patch) for d in range(count)]


def spans(size: int, patch: int, overlap: float) -> list[Span]:
    """The tiles along an axis; an axis shorter than a tile gets one tile padded on both sides
    (half the difference before, the rest after, as MONAI pads)."""
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    if size < patch:
        diff = patch - size
        return [Span(0, size, diff // 2, diff - diff // 2)]
    return [Span(s, s + patch) for s in tile_starts(size, patch, overlap)]


@functools.lru_cache(maxsize=8)
def _gaussian_cpu(height: int, width: int, sigma_scale: float) -> torch.Tensor:
    axes = []
    for n in (height, width):
        x = torch.arange(-(n - 1) / 2.0, (n - 1) / 2.0 + 1, dtype=torch.float)
        axes.append(torch.exp(x**2 / (-2 * (n * sigma_scale) ** 2)))
    weight = axes[0].unsqueeze(-1) * axes[1][None]
    return weight.clamp_(min=max(weight.min().item(), MIN_WEIGHT))


def gaussian_weight(height: int, width: int, sigma_scale: float = SIGMA_SCALE, device=None) -> torch.Tensor:
    """MONAI's Gaussian importance map ``(height, width)``, float32 (computed once per size).

    Notes
    -----
    ``w[i, j] = max(g_h(i) * g_w(j), 1e-3)`` with ``g_n(i) = exp(-(i - (n - 1) / 2)**2 / (2 (s n)**2))``
    and ``s = sigma_scale``: 1 at the centre, unnormalised (the blend divides by the summed weights).
    """
    return _gaussian_cpu(int(height), int(width), float(sigma_scale)).to(device)


def _tile_layout(model: torch.nn.Module, device: torch.device) -> torch.memory_format:
    """Channels-last tiles on the CPU (oneDNN's convolutions run faster in it, whatever the layout
    of the weights); on a GPU the layout of the network's weights decides."""
    if device.type == "cpu":
        return torch.channels_last
    weight = next((p for p in model.parameters() if p.dim() == 4), None)
    if weight is not None and weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def run_tiles(
    model: torch.nn.Module,
    source: torch.Tensor,
    tiles: list[Tile],
    patch: int,
    tiles_per_batch: int = TILES_PER_BATCH,
) -> Iterator[tuple[list[Tile], torch.Tensor]]:
    """Yield ``(tiles, logits)`` per batch of at most ``tiles_per_batch`` tiles of ``source``
    ``(B, C, H, W)``; ``logits`` ``(n, K, patch, patch)`` are float32 and valid until the next batch."""
    if tiles_per_batch < 1:
        raise ValueError(f"tiles_per_batch must be at least 1, got {tiles_per_batch}")
    if not tiles:
        return
    layout = _tile_layout(model, source.device)
    size = min(tiles_per_batch, len(tiles))
    buffer = torch.empty((size, source.shape[1], patch, patch), dtype=source.dtype, device=source.device,
                         memory_format=layout)
    for first in range(0, len(tiles), size):
        batch = tiles[first:first + size]
        for slot, (index, rows, cols) in enumerate(batch):
            piece = source[index, :, rows.start:rows.stop, cols.start:cols.stop]
            if rows.before or rows.after or cols.before or cols.after:
                piece = F.pad(piece[None], (cols.before, cols.after, rows.before, rows.after), mode="replicate")[0]
            buffer[slot].copy_(piece)
        with torch.inference_mode():
            logits = model(buffer[:len(batch)])
        if logits.shape[-2:] != (patch, patch) or logits.shape[0] != len(batch):
            raise ValueError(f"the network turned tiles of {patch}x{patch} into logits of shape "
                             f"{tuple(logits.shape)}; tiled inference needs outputs the size of their inputs")
        yield batch, logits.float()


def accumulate(
    out: torch.Tensor, weight_sum: torch.Tensor, tiles: list[Tile], logits: torch.Tensor, weight: torch.Tensor,
) -> None:
    """Add each tile's ``logits * weight`` into ``out`` ``(B, K, H, W)`` and, once per position (image 0),
    ``weight`` into ``weight_sum`` ``(1, 1, H, W)``; the padding of small images is cropped away."""
    with torch.autocast(out.device.type, enabled=False):
        for (index, rows, cols), tile in zip(tiles, logits):
            inner = (slice(rows.before, rows.before + rows.stop - rows.start),
                     slice(cols.before, cols.before + cols.stop - cols.start))
            where = (slice(rows.start, rows.stop), slice(cols.start, cols.stop))
            w = weight[inner]
            out[index][(slice(None), *where)].addcmul_(tile[(slice(None), *inner)], w)
            if index == 0:
                weight_sum[0, 0][where].add_(w)


def tiled_logits(
    model: torch.nn.Module,
    image: torch.Tensor,
    patch: int,
    overlap: float = 0.25,
    tiles_per_batch: int = TILES_PER_BATCH,
) -> torch.Tensor:
    """Logits ``(B, K, H, W)`` (float32) of images ``(B, C, H, W)`` of any size.

    Tiles of ``patch x patch`` overlap by ``overlap`` of their size; each tile's logits are
    weighted by a Gaussian centred on the tile (:func:`gaussian_weight`), so seams between tiles
    do not show, and the weighted sum is divided by the summed weights. Images smaller than a
    tile are padded (edge values) and the padding is cropped away. The network runs under
    ``torch.inference_mode`` (and under any autocast the caller set); the blend is float32.

    Notes
    -----
    ``out(p) = sum_t w(p - o_t) f_t(p) / sum_t w(p - o_t)`` over the tiles ``t`` at offsets ``o_t``
    that cover pixel ``p``. Peak memory beyond the input is the output, one weight map the size
    of one image, and one batch of ``tiles_per_batch`` tiles with the network's activations.
    """
    batch, _, height, width = image.shape
    tiles = [Tile(b, rows, cols) for b in range(batch)
             for rows in spans(height, patch, overlap) for cols in spans(width, patch, overlap)]
    weight = gaussian_weight(patch, patch, device=image.device)
    weight_sum = torch.zeros((1, 1, height, width), dtype=torch.float32, device=image.device)
    out = None
    for done, logits in run_tiles(model, image, tiles, patch, tiles_per_batch):
        if out is None:
            out = torch.zeros((batch, logits.shape[1], height, width), dtype=torch.float32, device=image.device)
        accumulate(out, weight_sum, done, logits, weight)
    return out.div_(weight_sum)


def logits_to_classes(logits: torch.Tensor, mode: str | None = None, threshold: float = 0.5) -> torch.Tensor:
    """Decisions from logits (see :func:`segtrain.models.decision.decide`)."""
    from segtrain.models.decision import decide

    return decide(logits, mode, threshold)


def logits_to_probabilities(logits: torch.Tensor, mode: str | None = None) -> torch.Tensor:
    """Probabilities from logits (see :func:`segtrain.models.decision.probabilities`)."""
    from segtrain.models.decision import probabilities

    return probabilities(logits, mode)
