"""What the machine offers: device, bfloat16 support, cores. Read on demand, never at import."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Machine:
    accelerator: str  # "cpu" or "cuda"
    bf16: bool
    cores: int
    description: str


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def detect_machine(accelerator: str = "auto") -> Machine:
    """The device training will use and whether bfloat16 is fast on it."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return Machine("cuda", torch.cuda.is_bf16_supported(), cores, torch.cuda.get_device_name(0))
    flags = _cpu_flags()
    bf16 = bool(flags & {"amx_bf16", "avx512_bf16"})
    return Machine("cpu", bf16, cores, f"CPU, {cores} cores" + (", bfloat16 in hardware" if bf16 else ""))


def available_memory_bytes() -> int:
    """Memory this process can still use: ``MemAvailable``, or the cgroup limit if lower."""
    available = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except OSError:
        pass
    if available is None:
        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max":
            available = min(available, int(limit) - used)
    except (OSError, ValueError):
        pass
    return int(available)
