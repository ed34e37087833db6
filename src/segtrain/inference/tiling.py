"""Whole-image inference by overlapping tiles blended with Gaussian weights.

Training sees patches; validation, testing and prediction see whole images of any size
through the same function, so the scores measure what ``predict`` delivers.

:func:`tiled_logits` equals MONAI's ``sliding_window_inference(image, (patch, patch), ...,
mode="gaussian", padding_mode="replicate")`` to float rounding: the same tile grid
(:func:`tile_starts`), importance map (:func:`gaussian_weight`), padding of images smaller than
a tile (:func:`spans`) and order of summation. Tiles go through the network in batches; each
batch's logits are weighted and added into a preallocated float32 output as soon as they exist,
so only a few batches of logits are ever alive (:func:`run_tiles`).

Where the time goes (``bench/inference.py``, 2-core CPU shared with other jobs): MONAI spends
over 95% of its time in the network; its own work around it (slicing and concatenating tiles,
a Python loop adding each tile, the weight map) took 2-4 s of a 100-190 s float32 run on a
4096x4096 image, and ours costs about the same. Ours is faster inside the network, for two
measured reasons (ablations of ``bench/inference.py --variants``):

- the tiles are handed over channels-last, the layout oneDNN's CPU convolutions run fastest
  (MONAI passes NCHW slices of the image): 1.4x in float32 and 2.4x under bfloat16 autocast
  (AMX) in our runs;
- on the CPU, :func:`tile_workers` batches run at once in threads, each network call on its
  share of the intra-op threads, instead of one call at a time spread over all of them: 2.7x in
  float32 on the shared machine. Tiles are independent, so the workers never wait for each
  other, while intra-op threads meet at a barrier after every operation, which costs most when
  the cores are shared and one of them is descheduled; on an idle machine expect less.
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import Iterator, NamedTuple

import torch
from torch.nn import functional as F

from segtrain.models.decision import decide, probabilities

TILES_PER_BATCH = 4
"""Tiles per network call. Measured on a 2-core CPU (default U-Net, 256x256 channels-last tiles, one
intra-op thread per call as the workers run them; best of several rounds on a shared machine):
float32 125, 148, 172, 181 ms per tile at 2, 4, 8, 16 tiles per call, bfloat16 37, 34, 41, 58 ms.
Larger calls do not pay on a CPU, while the activations grow by 30-40 MB per tile in float32
(peak resident growth of one call: 165 MB at 4 tiles, 254 MB at 8, 406 MB at 16), so 4, the
batch segtrain gave MONAI before; with 2 workers, 8 tiles are in the network at once."""
SIGMA_SCALE = 0.125
"""Standard deviation of the Gaussian importance map as a share of the tile side (MONAI's default)."""
MAX_WORKERS = 4
"""Most network calls run at once on the CPU (:func:`tile_workers`): each holds the activations of
its batch, so on many cores the calls get several intra-op threads each rather than more calls."""
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


def tile_workers(model: torch.nn.Module, device: torch.device) -> int:
    """Batches of tiles run at once: on the CPU one per intra-op thread (at most :data:`MAX_WORKERS`),
    for a network in eval mode; otherwise one."""
    if device.type != "cpu" or model.training:
        return 1
    return max(1, min(MAX_WORKERS, torch.get_num_threads()))


def _autocast_of(device_type: str) -> tuple[str, torch.dtype] | None:
    """The caller's autocast on ``device_type`` as ``(device_type, dtype)``, or None."""
    try:
        enabled, dtype = torch.is_autocast_enabled(device_type), torch.get_autocast_dtype(device_type)
    except (TypeError, AttributeError):  # torch < 2.4 names them per device
        cpu = device_type == "cpu"
        enabled = torch.is_autocast_cpu_enabled() if cpu else torch.is_autocast_enabled()
        dtype = torch.get_autocast_cpu_dtype() if cpu else torch.get_autocast_gpu_dtype()
    return (device_type, dtype) if enabled else None


def _forward(model, source, batch, patch, layout, autocast) -> torch.Tensor:
    tiles = torch.empty((len(batch), source.shape[1], patch, patch), dtype=source.dtype, device=source.device,
                        memory_format=layout)
    for slot, (index, rows, cols) in enumerate(batch):
        piece = source[index, :, rows.start:rows.stop, cols.start:cols.stop]
        if rows.before or rows.after or cols.before or cols.after:
            piece = F.pad(piece[None], (cols.before, cols.after, rows.before, rows.after), mode="replicate")[0]
        tiles[slot].copy_(piece)
    cast = torch.autocast(autocast[0], dtype=autocast[1]) if autocast else contextlib.nullcontext()
    with torch.inference_mode(), cast:
        logits = model(tiles)
    if logits.shape[-2:] != (patch, patch) or logits.shape[0] != len(batch):
        raise ValueError(f"the network turned tiles of {patch}x{patch} into logits of shape "
                         f"{tuple(logits.shape)}; tiled inference needs outputs the size of their inputs")
    return logits.float()


def run_tiles(
    model: torch.nn.Module,
    source: torch.Tensor,
    tiles: list[Tile],
    patch: int,
    tiles_per_batch: int = TILES_PER_BATCH,
    workers: int | None = None,
) -> Iterator[tuple[list[Tile], torch.Tensor]]:
    """Yield ``(tiles, logits)`` in order, per batch of at most ``tiles_per_batch`` tiles of ``source``
    ``(B, C, H, W)``; ``logits`` ``(n, K, patch, patch)`` are float32.

    With ``workers`` > 1 (default :func:`tile_workers`), that many batches run at once in threads,
    each network call on ``threads // workers`` intra-op threads (the process's thread count is
    restored afterwards); at most ``workers + 1`` batches of logits exist at any time. The caller's
    autocast applies in the workers too.
    """
    if tiles_per_batch < 1:
        raise ValueError(f"tiles_per_batch must be at least 1, got {tiles_per_batch}")
    device = source.device
    layout = _tile_layout(model, device)
    batches = [tiles[i:i + tiles_per_batch] for i in range(0, len(tiles), tiles_per_batch)]
    workers = min(tile_workers(model, device) if workers is None else workers, len(batches))
    if workers <= 1:
        for batch in batches:
            yield batch, _forward(model, source, batch, patch, layout, None)
        return
    autocast = _autocast_of(device.type)  # autocast is per thread: the workers enter the caller's
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads // workers))  # per network call; the workers share the cores
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="segtrain-tiles") as pool:
            pending = deque()
            for batch in batches:
                pending.append((batch, pool.submit(_forward, model, source, batch, patch, layout, autocast)))
                if len(pending) > workers:  # all workers busy while the caller blends the oldest
                    done, future = pending.popleft()
                    yield done, future.result()
            while pending:
                done, future = pending.popleft()
                yield done, future.result()
    finally:
        torch.set_num_threads(threads)


def accumulate(
    out: torch.Tensor, weight_sum: torch.Tensor, tiles: list[Tile], logits: torch.Tensor, weight: torch.Tensor,
) -> None:
    """Add each tile's ``logits * weight`` into ``out`` ``(B, K, H, W)`` and, once per position (image 0),
    ``weight`` into ``weight_sum`` ``(1, 1, H, W)``; the padding of small images is cropped away."""
    for (index, rows, cols), tile in zip(tiles, logits):  # in-place on float32 buffers: autocast has no say
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
    of one image, and per worker (:func:`tile_workers`) one batch of ``tiles_per_batch`` tiles
    with the network's activations.
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
    return decide(logits, mode, threshold)


def logits_to_probabilities(logits: torch.Tensor, mode: str | None = None) -> torch.Tensor:
    """Probabilities from logits (see :func:`segtrain.models.decision.probabilities`)."""
    return probabilities(logits, mode)
