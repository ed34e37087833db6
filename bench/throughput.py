"""Training throughput of `segtrain train` against a bare PyTorch loop, side by side in one run.

Both train the same U-Net with the same batch, patch size, precision and memory layout for
the same number of steps. The bare loop draws batches from tensors already in memory; segtrain
reads PNGs, samples patches, augments, and runs through Lightning with its callbacks. The
ratio is segtrain's images per second over the bare loop's (1.0 = no overhead).

    .venv/bin/python bench/throughput.py [--steps 40] [--size 256] [--batch 8]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import torch

import segtrain
from segtrain.config import ModelConfig
from segtrain.losses import segmentation_loss
from segtrain.models import build_model
from segtrain.runtime.env import detect_machine


def bare_loop(steps: int, batch: int, patch: int, bf16: bool, channels_last: bool) -> float:
    """Images per second of a plain AdamW loop on random in-memory tensors."""
    torch.manual_seed(0)
    model = build_model(3, 2, ModelConfig())
    memory = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    data = torch.randn(32, 3, patch, patch)
    labels = torch.randint(0, 2, (32, patch, patch))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)
    start = None
    for step in range(steps + 2):
        if step == 2:  # two warm-up steps, as segtrain's first steps also pay for kernel creation
            start = time.perf_counter()
        index = torch.randint(0, 32, (batch,))
        x = data[index].contiguous(memory_format=memory)
        with autocast:
            loss = segmentation_loss(model(x), labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return steps * batch / (time.perf_counter() - start)


def segtrain_loop(steps: int, batch: int, size: int, workdir: Path) -> tuple[float, dict]:
    """Images per second of `segtrain.train` (training time without validation, from metrics.csv)."""
    data = segtrain.synth(workdir / "data", n=40, size=size, seed=0)
    result = segtrain.train(
        data, workdir / "run", batch_size=batch, patch_size=size, steps_per_epoch=steps, epochs=1,
        progress=False, overwrite=True,
    )
    row = list(csv.DictReader((result.run / "metrics.csv").open()))[-1]
    images = int(row["step"]) * batch
    return images / float(row["train_seconds"]), row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    machine = detect_machine()
    bf16 = channels_last = machine.bf16
    with tempfile.TemporaryDirectory() as tmp:
        ours, row = segtrain_loop(args.steps, args.batch, args.size, Path(tmp))
    bare = bare_loop(args.steps, args.batch, args.size, bf16, channels_last)
    print(f"machine: {machine.description}; batch {args.batch} x {args.size}x{args.size}, {args.steps} steps, "
          f"{'bf16' if bf16 else 'fp32'}{' channels-last' if channels_last else ''}")
    print(f"segtrain train : {ours:7.2f} images/s (includes the first steps' kernel set-up)")
    print(f"bare loop      : {bare:7.2f} images/s")
    print(f"ratio          : {ours / bare:7.3f}")


if __name__ == "__main__":
    main()
