"""Training histories beyond the per-epoch and per-step logs: events, gradient norms, memory.

``events.jsonl`` holds one JSON object per line for everything training did on its own (a
rolled-back step, a halved micro-batch, a stop and its reason); ``grads.csv`` the gradient norm
of each layer group every few steps. :mod:`segtrain.diagnosis` reads both. Only rank zero writes.
"""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path

from lightning.pytorch.callbacks import Callback

from segtrain.runtime.env import available_memory_bytes


class EventLog:
    """Appends events to ``events.jsonl``: ``{"kind", "step", "epoch", ...}``, one per line."""

    def __init__(self, path: Path, rank_zero: bool = True):
        self.path, self.rank_zero = Path(path), rank_zero
        self.events: list[dict] = []

    def write(self, event: dict) -> None:
        self.events.append(event)
        if not self.rank_zero:
            return
        with self.path.open("a") as handle:
            handle.write(json.dumps(event, default=str) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


class GradLog(Callback):
    """``grads.csv``: the gradient norm of every layer group, each time the module measured them."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.rows: list[str] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        record = getattr(pl_module, "last_step", None)
        if record is None or not record.group_norms:
            return
        if not self.path.exists() and not self.rows and trainer.is_global_zero:
            self.path.write_text("step," + ",".join(record.group_norms) + "\n")
        self.rows.append(f"{record.step}," + ",".join(f"{v:.6g}" for v in record.group_norms.values()) + "\n")

    def flush(self, trainer) -> None:
        if trainer.is_global_zero and self.rows:
            with self.path.open("a") as handle:
                handle.writelines(self.rows)
        self.rows = []

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.flush(trainer)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        self.flush(trainer)

    def on_fit_end(self, trainer, pl_module) -> None:
        self.flush(trainer)


def peak_memory_mb(device: str = "cpu") -> float:
    """Peak memory so far: the process's resident set on a CPU, CUDA's peak allocation on a GPU."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def memory_limit_mb(device: str = "cpu") -> float:
    """Memory the run may use: the GPU's total, or on a CPU what is available now plus what the process holds."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_properties(0).total_memory / 2**20
    held = 0.0
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                held = float(line.split()[1]) / 1024
    except OSError:
        pass
    return available_memory_bytes() / 2**20 + held
