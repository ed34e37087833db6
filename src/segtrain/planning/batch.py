"""The whole batch decision: micro batch, accumulation, processes, effective batch, and the memory policy.

Four numbers, one product. The **micro batch** (the plan's ``batch_size``) is what one forward and
backward pass sees; ``accumulate`` micro batches add their gradients into one weight update, so one
**loader batch** (what the data loader hands a process per update) is ``batch_size x accumulate``;
with several processes (``devices x num_nodes``) their gradients are averaged, so the **effective
batch**, the samples behind one weight update, is ``batch_size x accumulate x processes``
(:class:`BatchPlan`, planned by :func:`plan_batch`).

The planned micro batch is the largest power of two that (1) fits in memory, (2) leaves at least
:data:`MIN_STEPS_PER_EPOCH` steps per epoch (:func:`dataset_cap`) and (3) on a CPU, still pays: a
doubled batch is kept only while it processes :data:`THROUGHPUT_GAIN` times the patches per second.
Without measurements it is :data:`BATCH_DEFAULT` for the device, within the same cap. A planned
patch too large for a batch of :data:`MIN_BATCH` is halved first (:func:`fit_patch_in_memory`); a
batch the user gives is checked against memory before training, refused when it cannot fit and
warned about above the safe share. Accumulation is planned as 1 (the batch fits).

The memory policy. On a GPU, real training steps are tried at growing batch sizes until one runs out of memory
(memory is freed after each failure before the next try). On a CPU, out-of-memory kills the
process instead of raising, so the peak memory of real steps is measured at small batches in
a separate process (its peak resident size, ``ru_maxrss``) and extrapolated linearly against the
memory available, with a safety margin (:data:`MEMORY_FRACTION`, ``train.memory_fraction``).
"""

from __future__ import annotations

import gc
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from segtrain.config.schema import ModelConfig
from segtrain.errors import UserError
from segtrain.planning import machine_cache
from segtrain.runtime.env import available_memory_bytes  # noqa: F401  (planning's memory facts)
from segtrain.runtime.oom import is_out_of_memory

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
MIN_PATCH = 64
"""A planned patch is never halved below this to make room for a batch."""
BATCH_DEFAULT = {"cpu": 8, "cuda": 16}
"""Batch when nothing is measured."""
BN_MIN_BATCH = 8
"""Batch norm estimates its statistics from the batch; below 8 samples they are noisy."""
THROUGHPUT_GAIN = 1.15
"""On a CPU, a doubled batch is planned only if it processes at least 15% more patches per second."""


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
            if not is_out_of_memory(exc):
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


@dataclass(frozen=True)
class BatchPlan:
    """The batch decision of a plan: ``micro`` (``batch_size``), ``accumulate`` and ``processes``."""

    micro: int
    accumulate: int
    processes: int

    @property
    def loader(self) -> int:
        """Samples one process's loader hands over per weight update: micro batch x accumulate."""
        return self.micro * self.accumulate

    @property
    def effective(self) -> int:
        """Samples per weight update: micro batch x accumulate x processes."""
        return self.micro * self.accumulate * self.processes


def plan_batch(p, probes, machine, config, patch, patches, bf16, channels_last) -> BatchPlan:
    """Choose ``batch_size`` and ``accumulate``, state ``processes`` and ``effective_batch``.

    ``p`` is the planner's chooser (``p.choose(name, user, planned)``: the user's value, else the
    saved plan's, else the planned one); ``patches`` counts the training patches of size ``patch``.
    """
    plan, train = p.plan, config.train
    batch = p.choose("batch_size", train.batch_size,
                     lambda: _planned_batch(plan, probes, machine, config, patch, patches, bf16, channels_last))
    if plan.items["batch_size"].source == "user" and probes is not None:  # a plan file's batch was measured
        _check_user_batch(plan, p, probes, machine, config, patch, batch, bf16, channels_last)
    if config.model.norm == "batch" and batch < BN_MIN_BATCH:
        plan.warnings.append(
            f"batch norm sees only {batch} samples per step, so its statistics are noisy; "
            "group norm does not depend on the batch (model.norm: group, or --norm group)")
    accumulate = p.choose("accumulate", train.accumulate, lambda: (
        1, "1: the batch fits in memory; accumulating only helps when the wanted batch does not fit"))
    processes = train.devices * train.num_nodes
    if processes > 1:
        plan.set("processes", processes, f"{train.devices} device(s) x {train.num_nodes} node(s), each with its own "
                 f"batch of {batch} x accumulate {accumulate}; their gradients are averaged into one update", "user")
    sizes = BatchPlan(batch, accumulate, processes)
    plan.set("effective_batch", sizes.effective, f"batch {batch} x accumulate {accumulate}"
             + (f" x {processes} processes" if processes > 1 else "") + ": samples per weight update")
    return sizes


def fit_patch_in_memory(plan, probes, config, patch, multiple, bf16, channels_last) -> int:
    """Halve a planned CPU patch (in multiples of ``multiple``) until a batch of :data:`MIN_BATCH` fits."""
    allowed = probes.available_memory() * config.train.memory_fraction
    first = patch
    while patch > max(MIN_PATCH, multiple) and probes.memory(patch, bf16, channels_last).largest_batch(allowed) < MIN_BATCH:
        patch = max(MIN_PATCH, multiple, patch // 2 // multiple * multiple)
    if patch != first:
        item = plan.items["patch_size"]
        plan.set("patch_size", patch, f"{item.reason}; halved from {first} until a batch of {MIN_BATCH} fits in "
                                      f"the {allowed / 2**30:.1f} GB allowed")
    return patch


def _planned_batch(plan, probes, machine, config, patch, patches, bf16, channels_last):
    device = machine.accelerator
    cap = dataset_cap(patches)
    cap_note = f"at most 1/8 of the {patches} training patches ({cap})"
    if probes is None:
        batch = min(BATCH_DEFAULT[device], cap)
        return max(MIN_BATCH, batch), f"default for this device, {cap_note}; nothing measured"
    if device == "cpu":
        fit = probes.memory(patch, bf16, channels_last)
        available = probes.available_memory()
        allowed = available * config.train.memory_fraction
        memory_batch = fit.largest_batch(allowed)
        plan.set("memory", {
            "per_sample_mb": round(fit.per_sample / 2**20, 1), "fixed_mb": round(fit.fixed / 2**20, 1),
            "available_mb": round(available / 2**20), "allowed_mb": round(allowed / 2**20),
            "largest_batch": memory_batch,
        }, f"{_measured(fit)} peak memory of training steps at batches {sorted(fit.measured)}: "
           f"{fit.fixed / 2**20:.0f} MB + {fit.per_sample / 2**20:.1f} MB per sample; "
           f"{config.train.memory_fraction:.0%} of the {available / 2**30:.1f} GB available may be used")
        if memory_batch < MIN_BATCH:
            raise UserError(
                f"a training step at patch {patch} needs about {fit.predict(MIN_BATCH) / 2**30:.1f} GB at batch "
                f"{MIN_BATCH}, more than the {allowed / 2**30:.1f} GB allowed; pass --patch-size {max(MIN_PATCH, patch // 2)}")
        limit = min(memory_batch, cap)
        start = min(limit, BN_MIN_BATCH)
        batch, rates = _throughput_batch(probes, patch, bf16, channels_last, start, limit)
        rate_note = ", ".join(f"{b}: {r:.1f}" for b, r in rates.items())
        return batch, (f"largest power of two within memory ({memory_batch}) and {cap_note} is {limit}; on a CPU a "
                       f"doubled batch must raise the patches per second by {THROUGHPUT_GAIN - 1:.0%} to pay for "
                       f"halving the weight updates (measured patches/s by batch: {rate_note})")
    fitted, tried = probes.gpu_batch(patch, bf16, channels_last, cap)
    plan.set("memory", {str(b): outcome for b, outcome in tried.items()}, "real training steps tried on the GPU")
    if fitted < MIN_BATCH:
        raise UserError(f"a training step at patch {patch} does not fit on the GPU even at batch {MIN_BATCH}; "
                        f"pass --patch-size {max(MIN_PATCH, patch // 2)}")
    return fitted, f"largest power of two whose real training steps fit on the GPU, {cap_note}"


def _throughput_batch(probes, patch, bf16, channels_last, start, limit):
    """Double from ``start`` up to ``limit`` while the patches per second rise by :data:`THROUGHPUT_GAIN`."""
    batch = max(MIN_BATCH, largest_power_of_two(start))
    rates = {batch: batch / probes.speed(batch, patch, bf16, channels_last)[0]}
    while batch * 2 <= limit:
        rates[batch * 2] = batch * 2 / probes.speed(batch * 2, patch, bf16, channels_last)[0]
        if rates[batch * 2] < rates[batch] * THROUGHPUT_GAIN:
            break
        batch *= 2
    return batch, rates


def _measured(fit) -> str:
    """How the memory figures were obtained: now, or on this machine before (its cache)."""
    if getattr(fit, "from_cache", False):
        return "measured earlier on this machine (cache; SEGTRAIN_CACHE_DIR=off measures again):"
    return "measured"


def _check_user_batch(plan, p, probes, machine, config, patch, batch, bf16, channels_last):
    """Refuse before training a batch that cannot fit; warn when it is above the safe share.

    A plan file's memory measurement is reused when it was made at the same patch size,
    precision and memory layout; otherwise the memory of real steps is measured.
    """
    if machine.accelerator != "cpu":
        fitted, tried = probes.gpu_batch(patch, bf16, channels_last, batch)
        if fitted < batch:
            raise UserError(f"--batch-size {batch} does not fit on the GPU at patch {patch} "
                            f"({tried.get(batch, 'not tried')}); the largest that fits is {fitted}")
        return
    saved = p.given["memory"] if "memory" in p.given else None
    same = all(name in p.given and p.given[name] == value for name, value in (
        ("patch_size", patch), ("precision", plan["precision"]), ("channels_last", channels_last)))
    if same and isinstance(saved, dict) and "per_sample_mb" in saved and "fixed_mb" in saved:
        fit = MemoryFit(fixed=saved["fixed_mb"] * 2**20, per_sample=saved["per_sample_mb"] * 2**20, measured={})
        plan.set("memory", saved, p.given.items["memory"].reason, "plan file")
    else:
        fit = probes.memory(patch, bf16, channels_last)
        plan.set("memory", {"per_sample_mb": round(fit.per_sample / 2**20, 1), "fixed_mb": round(fit.fixed / 2**20, 1)},
                 f"{_measured(fit)} peak memory of training steps at batches {sorted(fit.measured)}: "
                 f"{fit.fixed / 2**20:.0f} MB + {fit.per_sample / 2**20:.1f} MB per sample")
    available = probes.available_memory()
    need = fit.predict(batch)
    largest = fit.largest_batch(available * config.train.memory_fraction)
    if need > available:
        raise UserError(f"--batch-size {batch} needs about {need / 2**30:.1f} GB at patch {patch}, but "
                        f"{available / 2**30:.1f} GB are available; the largest safe batch is {largest}")
    if batch > largest:
        plan.warnings.append(f"batch {batch} needs about {need / 2**30:.1f} GB, more than "
                             f"{config.train.memory_fraction:.0%} of the {available / 2**30:.1f} GB available")


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(peak_memory_child(json.loads(sys.argv[1]))))
