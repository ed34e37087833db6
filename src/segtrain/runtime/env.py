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
