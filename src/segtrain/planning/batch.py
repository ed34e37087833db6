"""The batch size: the largest power of two whose training step fits in memory, measured.

On a GPU, real training steps are tried at growing batch sizes until one runs out of memory
(memory is freed after each failure before the next try). On a CPU, out-of-memory kills the
process instead of raising, so the peak memory of real steps is measured at small batches in
a separate process (its peak resident size, ``ru_maxrss``) and extrapolated linearly against the
memory available, with a safety margin.
"""

from __future__ import annotations

import gc
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from segtrain.config.schema import ModelConfig
from segtrain.planning import machine_cache
from segtrain.runtime.env import available_memory_bytes  # noqa: F401  (planning's memory facts)

PROBE_BATCHES = (1, 2, 4)
"""Batches measured on the CPU, in increasing order (the peak resident size only grows)."""
MEMORY_FRACTION = 0.5
"""Share of the available memory a CPU training step may plan to use: the rest is margin for the
data loader, validation, fragmentation and the user's other programs."""
GPU_MEMORY_FRACTION = 0.9
"""A GPU batch whose peak exceeds this share of the device memory counts as not fitting."""
MIN_BATCH = 2
MIN_STEPS_PER_EPOCH = 8
"""A batch is at most 1/8 of the training patches, so an epoch holds at least 8 weight updates."""


def largest_power_of_two(limit: float) -> int:
    """The largest power of two not above ``limit`` (0 when ``limit < 1``)."""
    return 0 if limit < 1 else 2 ** int(math.floor(math.log2(limit) + 1e-9))


@dataclass
class MemoryFit:
    """Peak memory of a training step as ``fixed + per_sample * batch`` bytes."""

    fixed: float
    per_sample: float
    measured: dict[int, int]
    from_cache: bool = False
    """Read from this machine's cache (:mod:`segtrain.planning.machine_cache`), not measured now."""

    def predict(self, batch: int) -> float:
        return self.fixed + self.per_sample * batch

    def largest_batch(self, budget_bytes: float) -> int:
        """Largest power of two whose predicted peak fits in ``budget_bytes`` (0 if not even 1)."""
        if self.per_sample <= 0:
            return 1 << 20
        return largest_power_of_two((budget_bytes - self.fixed) / self.per_sample)


def fit_memory(measured: dict[int, int]) -> MemoryFit:
    """Line through the two largest measured batches (the smallest ones carry start-up noise)."""
    (b1, m1), (b2, m2) = sorted(measured.items())[-2:]
    per_sample = max(0.0, (m2 - m1) / (b2 - b1))
    return MemoryFit(fixed=m2 - per_sample * b2, per_sample=per_sample, measured=dict(measured))


def _peak_resident_bytes() -> int:
    """This process's peak resident size (``VmHWM``). Not ``ru_maxrss``: Linux carries that over
    ``exec`` from the parent, so a child of a large process would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def peak_memory_child(spec: dict) -> dict[int, int]:
    """In a fresh process: peak resident bytes above the start-up baseline after steps at each batch."""
    import torch

    from segtrain.planning.measurements import build_step

    torch.set_num_threads(spec["threads"])
    peaks = {}
    make_step = build_step(spec["in_channels"], spec["num_classes"], ModelConfig(**spec["model"]),
                           "cpu", spec["bf16"], spec["channels_last"])
    baseline = _peak_resident_bytes()
    for batch in spec["batches"]:
        step = make_step(batch, spec["patch"])
        step()
        step()
        peaks[batch] = _peak_resident_bytes() - baseline
        del step
        gc.collect()
    return peaks


def measure_cpu_memory(in_channels: int, num_classes: int, model_config, patch: int, bf16: bool,
                       channels_last: bool, batches=PROBE_BATCHES) -> MemoryFit:
    """Measure the peak memory of real training steps in a fresh interpreter and fit a line.

    A separate interpreter (``python -m segtrain.planning.batch``), not ``multiprocessing``: its
    peak starts from nothing, and it never re-imports the caller's script. The figures are kept in
    this machine's cache (:mod:`segtrain.planning.machine_cache`) and read back by later plans.
    """
    import json
    import subprocess
    import sys

    import torch

    key = machine_cache.memory_key(in_channels=in_channels, num_classes=num_classes, model=model_config.model_dump(),
                                   patch=patch, bf16=bf16, channels_last=channels_last, batches=list(batches))
    measured = machine_cache.load(key)
    if measured is not None:
        fit = fit_memory(measured)
        fit.from_cache = True
        return fit
    spec = {
        "in_channels": in_channels, "num_classes": num_classes, "model": model_config.model_dump(),
        "patch": patch, "bf16": bf16, "channels_last": channels_last, "batches": list(batches),
        "threads": torch.get_num_threads(),
    }
    done = subprocess.run([sys.executable, "-m", "segtrain.planning.batch", json.dumps(spec)],
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"memory probe failed: {done.stderr.strip().splitlines()[-1:]}")
    result = {int(b): int(m) for b, m in json.loads(done.stdout.strip().splitlines()[-1]).items()}
    machine_cache.save(key, result)
    return fit_memory(result)


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def largest_fitting_batch(try_batch: Callable[[int], float | None], cap: int, free: Callable[[], None],
                          start: int = MIN_BATCH) -> tuple[int, dict[int, str]]:
    """Try ``start, 2 start, ...`` up to ``cap`` with real steps; the largest that fits.

    ``try_batch(b)`` runs training steps at batch ``b`` and returns the peak share of device
    memory used (or None when unknown); it raises on out-of-memory. ``free()`` releases memory
    after every try. A try whose peak share exceeds :data:`GPU_MEMORY_FRACTION` counts as not
    fitting. Returns the batch (0 if not even ``start`` fits) and what happened at each size.
    """
    fitted, tried = 0, {}
    batch = start
    while batch <= cap:
        try:
            share = try_batch(batch)
        except Exception as exc:
            if not _is_oom(exc):
                raise
            tried[batch] = "out of memory"
            free()
            break
        free()
        if share is not None and share > GPU_MEMORY_FRACTION:
            tried[batch] = f"peak {share:.0%} of memory, above {GPU_MEMORY_FRACTION:.0%}"
            break
        tried[batch] = "fits" if share is None else f"fits, peak {share:.0%} of memory"
        fitted = batch
        batch *= 2
    return fitted, tried


def gpu_try_batch(make_step: Callable[[int, int], Callable[[], None]], patch: int) -> Callable[[int], float]:
    """A ``try_batch`` for :func:`largest_fitting_batch` running real CUDA steps."""
    import torch

    def attempt(batch: int) -> float:
        torch.cuda.reset_peak_memory_stats()
        step = make_step(batch, patch)
        step()
        step()
        torch.cuda.synchronize()
        del step
        return torch.cuda.max_memory_allocated() / torch.cuda.get_device_properties(0).total_memory

    return attempt


def free_gpu() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def dataset_cap(patches: int) -> int:
    """Largest power of two that leaves at least :data:`MIN_STEPS_PER_EPOCH` steps per epoch."""
    return max(MIN_BATCH, largest_power_of_two(patches / MIN_STEPS_PER_EPOCH))


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(peak_memory_child(json.loads(sys.argv[1]))))
