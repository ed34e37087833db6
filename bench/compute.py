"""Compute efficiency of the default model's training step, as a share of this machine's matmul rate.

What it measures: one training step of the default network (``build_model(3, 2, ModelConfig())``:
forward, backward and an AdamW step, batch 8 of 256x256 patches, random data, the loss segtrain
uses) in float32 and in bfloat16 autocast, each with the default and the channels-last memory
layout. For each it prints the step's GFLOP, the step's seconds, the achieved GFLOP/s and the
ratio of that to the rate of a large square matrix multiply in the same precision, timed in the
same run. The ratio is the share of the machine's dense-matmul peak the step reaches
(1.0 = as fast as a matmul; convolutions of narrow layers and the memory-bound work between
them, normalisation, activations, pooling, the optimizer, usually keep it well below).

How:
- FLOPs are counted once with ``torch.utils.flop_counter.FlopCounterMode`` over one forward and
  one backward pass in float32 (the count does not depend on the precision). It counts
  convolutions and matrix products (a multiply-add is 2 FLOPs), not element-wise work nor the
  optimizer step, so "achieved GFLOP/s" is the useful convolution arithmetic per second.
- The four step variants and the two matmuls (two ``--matmul`` x ``--matmul`` matrices held in
  the precision itself: bf16 tensors for bf16) run interleaved, one of each per round, after
  ``WARMUP_ROUNDS`` untimed rounds (the first steps create oneDNN kernels); each figure is the
  best of ``--rounds`` rounds. Interleaving and best-of keep the ratios honest on a shared,
  noisy machine: every variant sees the same load, and the fastest run is the least disturbed.
- On a CPU, bf16 is autocast to bfloat16 (fast only with AMX or AVX512-BF16 hardware, which
  the header says); on CUDA the same script times bf16-mixed autocast, and the float32 matmul
  uses TF32 exactly when cuDNN convolutions do (``torch.backends.cudnn.allow_tf32``), so the
  two sides stay in the same precision.
- ``*`` marks the layout segtrain's planner would pick at that precision: the faster one
  measured (it times both before training). Without measurements it would use channels-last
  for bf16 on a CPU only.

Run (about 40 s on a quiet 2-core CPU, several minutes when other programs load it; ``--quick``:
128x128 patches and 3 rounds, about 10 s):

    .venv/bin/python bench/compute.py [--batch 8] [--size 256] [--rounds 5] [--quick]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from segtrain.config import ModelConfig
from segtrain.losses import segmentation_loss
from segtrain.models import build_model
from segtrain.runtime.env import detect_machine

WARMUP_ROUNDS = 2
"""Untimed rounds first (each variant steps twice): oneDNN creates its kernels on first use."""


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def step_flops(batch: int, size: int, device: str) -> tuple[int, int]:
    """FLOPs of one forward pass and of the backward pass that follows it (float32, counted once)."""
    torch.manual_seed(0)
    model = build_model(3, 2, ModelConfig()).to(device)
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 2, (batch, size, size), device=device)
    with FlopCounterMode(display=False) as forward_counter:
        loss = segmentation_loss(model(x), y)
    with FlopCounterMode(display=False) as backward_counter:
        loss.backward()
    return forward_counter.get_total_flops(), backward_counter.get_total_flops()


class Step:
    """One training step (forward, backward, AdamW step) of a fresh default model in one variant."""

    def __init__(self, batch: int, size: int, device: str, bf16: bool, channels_last: bool):
        torch.manual_seed(0)
        memory = torch.channels_last if channels_last else torch.contiguous_format
        self.model = build_model(3, 2, ModelConfig()).to(device).to(memory_format=memory)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-4)
        self.x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=memory)
        self.y = torch.randint(0, 2, (batch, size, size), device=device)
        self.device, self.bf16 = device, bf16

    def __call__(self) -> float:
        """Run one step; its seconds."""
        _sync(self.device)
        start = time.perf_counter()
        with torch.autocast(self.device, dtype=torch.bfloat16, enabled=self.bf16):
            loss = segmentation_loss(self.model(self.x), self.y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        _sync(self.device)
        return time.perf_counter() - start


class Matmul:
    """``n x n @ n x n`` in ``dtype`` (2 n^3 FLOPs) on two matrices held in that dtype."""

    def __init__(self, n: int, dtype: torch.dtype, device: str):
        self.a = torch.randn(n, n, device=device).to(dtype)
        self.b = torch.randn(n, n, device=device).to(dtype)
        self.flops, self.device = 2 * n**3, device

    def __call__(self) -> float:
        """Run one product; its seconds."""
        _sync(self.device)
        start = time.perf_counter()
        torch.matmul(self.a, self.b)
        _sync(self.device)
        return time.perf_counter() - start


def best_times(jobs: dict, warmup: int, rounds: int) -> dict:
    """Best seconds of each job over ``rounds`` rounds, every round running each job once in turn.

    Interleaving puts every job under the same mix of load from other programs, so their ratios
    hold on a shared machine where one job timed after another would not.
    """
    for _ in range(warmup):
        for job in jobs.values():
            job()
    best = {name: float("inf") for name in jobs}
    for _ in range(rounds):
        for name, job in jobs.items():
            best[name] = min(best[name], job())
    return best


VARIANTS = (("fp32", False, False), ("fp32", False, True), ("bf16", True, False), ("bf16", True, True))
"""(precision, bf16 autocast, channels-last) of each timed step."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=None, help="patch size (default 256; 128 with --quick)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 5; 3 with --quick)")
    parser.add_argument("--matmul", type=int, default=None, help="matmul side (default 2048 on a CPU, 8192 on CUDA)")
    parser.add_argument("--quick", action="store_true", help="128x128 patches and 3 rounds")
    args = parser.parse_args()
    size = args.size or (128 if args.quick else 256)
    rounds = args.rounds or (3 if args.quick else 5)
    machine = detect_machine()
    device = machine.accelerator
    n = args.matmul or (8192 if device == "cuda" else 2048)
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32  # fp32 matmul as fp32 convs run

    forward, backward = step_flops(args.batch, size, device)
    gflop = (forward + backward) / 1e9
    jobs = {(bf16, cl): Step(args.batch, size, device, bf16, cl) for _, bf16, cl in VARIANTS}
    for bf16 in (False, True):
        jobs[("matmul", bf16)] = Matmul(n, torch.bfloat16 if bf16 else torch.float32, device)
    best = best_times(jobs, WARMUP_ROUNDS, rounds)
    peaks = {bf16: jobs[("matmul", bf16)].flops / best[("matmul", bf16)] / 1e9 for bf16 in (False, True)}

    threads = f"; torch threads {torch.get_num_threads()}" if device == "cpu" else ""
    hardware = "" if device == "cuda" else (
        ", bfloat16 in hardware (AMX or AVX512-BF16)" if machine.bf16 else ", NO bfloat16 hardware (emulated)")
    print(f"machine: {machine.description}{threads}; bf16 = bf16 autocast{hardware}")
    print(f"step: default U-Net (build_model(3, 2, ModelConfig())), batch {args.batch} x {size}x{size}, "
          f"forward + backward + AdamW; best of {rounds} interleaved rounds after {WARMUP_ROUNDS} warm-up rounds")
    print(f"FLOPs (FlopCounterMode, convolutions and matmuls only): forward {forward / 1e9:.2f} GFLOP, "
          f"backward {backward / 1e9:.2f} GFLOP ({backward / forward:.2f}x forward)")
    tf32 = ""
    if device == "cuda":
        tf32 = f"; fp32 with TF32 {'on' if torch.backends.cudnn.allow_tf32 else 'off'}, as cuDNN"
    print(f"matmul reference: {n}x{n} @ {n}x{n} in the precision itself{tf32}")
    print()
    header = (f"{'precision':<9}  {'layout':<14}  {'step GFLOP':>10}  {'step s':>7}  {'GFLOP/s':>8}  "
              f"{'matmul GFLOP/s':>14}  {'ratio':>6}")
    print(header)
    print("-" * len(header))
    for precision, bf16, cl in VARIANTS:
        seconds = best[(bf16, cl)]
        mark = "*" if seconds <= best[(bf16, not cl)] else ""
        layout = ("channels-last" if cl else "contiguous") + mark
        rate = gflop / seconds
        print(f"{precision:<9}  {layout:<14}  {gflop:>10.2f}  {seconds:>7.3f}  {rate:>8.1f}  "
              f"{peaks[bf16]:>14.1f}  {rate / peaks[bf16]:>6.3f}")
    print()
    print("* the layout segtrain's planner would pick at that precision (the faster one measured)")
    step32 = min(best[(False, False)], best[(False, True)])
    step16 = min(best[(True, False)], best[(True, True)])
    print(f"bf16 over fp32 (best layouts): the step {step32 / step16:.2f}x faster, "
          f"the matmul {peaks[True] / peaks[False]:.2f}x faster")


if __name__ == "__main__":
    main()
