"""Measured step times: a few real training steps and forward passes on a copy of the model."""

from __future__ import annotations

import contextlib
import statistics
import time

import torch

from segtrain.config.schema import ModelConfig
from segtrain.losses import segmentation_loss
from segtrain.models import build_model

WARMUP_STEPS = 2
"""Untimed steps first: the first steps pay for memory allocation and kernel selection (oneDNN
creates its bf16 channels-last kernels on first use; a single warm-up step measured 3x too slow)."""
TIMED_STEPS = 3
"""Timed steps; their median is taken, so one step slowed by another process does not count."""


def _autocast(device: str, bf16: bool):
    return torch.autocast(device, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def time_steps(
    in_channels: int,
    num_classes: int,
    model_config: ModelConfig,
    batch_size: int,
    patch: int,
    device: str = "cpu",
    bf16: bool = False,
    channels_last: bool = False,
    seed: int = 0,
) -> tuple[float, float]:
    """Seconds of one training step of a batch, and of a forward pass of one tile.

    Runs ``WARMUP_STEPS`` untimed and ``TIMED_STEPS`` timed AdamW steps (their median) on random data of the
    real shape, then times forward passes of 4 tiles without gradients (as tiled validation runs).
    The user's model is not touched: a fresh one is built and thrown away, and the global
    random state is restored afterwards.
    """
    with torch.random.fork_rng(devices=[]):
        return _time_steps(in_channels, num_classes, model_config, batch_size, patch, device, bf16, channels_last, seed)


def _time_steps(in_channels, num_classes, model_config, batch_size, patch, device, bf16, channels_last, seed):
    generator = torch.Generator().manual_seed(seed)
    model = build_model(in_channels, num_classes, model_config).to(device)
    memory = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory)
    x = torch.randn(batch_size, in_channels, patch, patch, generator=generator).to(device, memory_format=memory)
    y = torch.randint(0, num_classes, (batch_size, patch, patch), generator=generator).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        with _autocast(device, bf16):
            loss = segmentation_loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    for _ in range(WARMUP_STEPS):
        step()
    sync()
    times = []
    for _ in range(TIMED_STEPS):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    step_s = statistics.median(times)

    model.eval()
    tiles = x[: min(4, batch_size)]
    with torch.no_grad(), _autocast(device, bf16):
        model(tiles)
        sync()
        start = time.perf_counter()
        model(tiles)
        sync()
    tile_s = (time.perf_counter() - start) / tiles.shape[0]
    return step_s, tile_s
