"""Measurements on the user's machine: real training steps on a throw-away copy of the model.

Every measurement builds a fresh model, runs real steps on data of the real shape and throws
the model away; the global random state is restored afterwards, so planning never changes
what training does.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from typing import Callable

import torch

from segtrain.config.schema import ModelConfig
from segtrain.losses import segmentation_loss
from segtrain.models import build_model

WARMUP_STEPS = 2
"""Untimed steps first: the first steps pay for memory allocation and kernel selection (oneDNN
creates its bf16 channels-last kernels on first use; a single warm-up step measured 3x too slow)."""
TIMED_STEPS = 3
"""Timed steps; their median is taken, so one step slowed by another process does not count."""
LOSS_TOLERANCE = 0.01
"""Reduced precision must give the same loss within 1% ..."""
GRADIENT_AGREEMENT = 0.99
"""... and a gradient pointing the same way (cosine similarity at least 0.99) to count as harmless."""


def autocast(device: str, bf16: bool):
    """bfloat16 autocast on ``device``, or a context that does nothing."""
    return torch.autocast(device, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def build_step(in_channels: int, num_classes: int, model_config: ModelConfig, device: str = "cpu",
               bf16: bool = False, channels_last: bool = False, seed: int = 0) -> Callable[[int, int], Callable[[], None]]:
    """``make_step(batch, patch)`` returns a closure running one AdamW training step on random data.

    One model is built and shared by every closure; each closure holds its own batch.
    """
    generator = torch.Generator().manual_seed(seed)
    memory = torch.channels_last if channels_last else torch.contiguous_format
    model = build_model(in_channels, num_classes, model_config).to(device).to(memory_format=memory)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def make_step(batch: int, patch: int) -> Callable[[], None]:
        x = torch.randn(batch, in_channels, patch, patch, generator=generator).to(device, memory_format=memory)
        y = torch.randint(0, num_classes, (batch, patch, patch), generator=generator).to(device)

        def step() -> None:
            with autocast(device, bf16):
                loss = segmentation_loss(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        step.model = model
        return step

    return make_step


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

    Runs ``WARMUP_STEPS`` untimed and ``TIMED_STEPS`` timed AdamW steps (their median) on random
    data of the real shape, then times forward passes of up to 4 tiles without gradients (as
    tiled validation runs them).
    """
    with torch.random.fork_rng(devices=[]):
        step = build_step(in_channels, num_classes, model_config, device, bf16, channels_last, seed)(batch_size, patch)
        for _ in range(WARMUP_STEPS):
            step()
        _sync(device)
        times = []
        for _ in range(TIMED_STEPS):
            start = time.perf_counter()
            step()
            _sync(device)
            times.append(time.perf_counter() - start)
        model = step.model.eval()
        memory = torch.channels_last if channels_last else torch.contiguous_format
        tiles = torch.randn(min(4, batch_size), in_channels, patch, patch).to(device, memory_format=memory)
        with torch.no_grad(), autocast(device, bf16):
            model(tiles)
            _sync(device)
            start = time.perf_counter()
            model(tiles)
            _sync(device)
        return statistics.median(times), (time.perf_counter() - start) / tiles.shape[0]


def precision_agreement(in_channels: int, num_classes: int, model_config: ModelConfig, batch_size: int,
                        patch: int, device: str = "cpu", seed: int = 0) -> tuple[float, float]:
    """Relative loss difference and gradient cosine similarity of bf16 autocast against float32.

    Both are computed on the same weights and the same random batch, so they measure only what
    the reduced precision changes.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(in_channels, num_classes, model_config).to(device)
        x = torch.randn(batch_size, in_channels, patch, patch).to(device)
        y = torch.randint(0, num_classes, (batch_size, patch, patch)).to(device)
        results = []
        for bf16 in (False, True):
            model.zero_grad(set_to_none=True)
            with autocast(device, bf16):
                loss = segmentation_loss(model(x), y)
            loss.backward()
            gradient = torch.cat([p.grad.flatten().float() for p in model.parameters() if p.grad is not None])
            results.append((float(loss.detach()), gradient))
        (loss32, grad32), (loss16, grad16) = results
        cosine = float(torch.nn.functional.cosine_similarity(grad32, grad16, dim=0))
        return abs(loss16 - loss32) / max(abs(loss32), 1e-12), cosine


def harmless(loss_difference: float, cosine: float) -> bool:
    """Whether a reduced-precision step agrees with float32 within the tolerances above."""
    return loss_difference <= LOSS_TOLERANCE and cosine >= GRADIENT_AGREEMENT
