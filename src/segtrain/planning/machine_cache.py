"""This machine's memory measurements, kept between runs.

The peak memory of a training step depends on the network, the patch, the precision, the memory
layout and the software, not on the data: once measured on a machine (a fresh process, several
seconds), it is kept in ``$SEGTRAIN_CACHE_DIR/memory.json`` (default
``$XDG_CACHE_HOME/segtrain`` or ``~/.cache/segtrain``) under a key naming all of these, and later
plans on the same machine read it back. ``SEGTRAIN_CACHE_DIR=off`` turns the cache off. The
memory available is always read afresh. A cache that cannot be read or written is ignored.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from segtrain._version import __version__
from segtrain.runtime.rundir import atomic_write_text


def cache_dir() -> Path | None:
    """The cache folder, or ``None`` when turned off."""
    given = os.environ.get("SEGTRAIN_CACHE_DIR")
    if given:
        return None if given.lower() == "off" else Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "segtrain"


def memory_key(**parts) -> str:
    """A key naming what the measurement depends on: the given parts, the software and the CPU."""
    import torch

    software = {"segtrain": __version__, "torch": torch.__version__, "python": platform.python_version(),
                "machine": platform.machine(), "cpu": _cpu_model(), "threads": torch.get_num_threads()}
    return json.dumps({**parts, **software}, sort_keys=True, default=str)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _file() -> Path | None:
    folder = cache_dir()
    return None if folder is None else folder / "memory.json"


def load(key: str) -> dict[int, int] | None:
    """Peak bytes by batch measured earlier under ``key``, or ``None``."""
    path = _file()
    try:
        entry = json.loads(path.read_text()).get(key) if path is not None else None
        return {int(b): int(m) for b, m in entry.items()} if entry else None
    except (OSError, ValueError, AttributeError):
        return None


def save(key: str, measured: dict[int, int]) -> None:
    """Keep ``measured`` under ``key`` (atomically; errors ignored: the cache only saves time)."""
    path = _file()
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            entries = json.loads(path.read_text())
        except (OSError, ValueError):
            entries = {}
        entries[key] = {str(b): int(m) for b, m in measured.items()}
        atomic_write_text(path, json.dumps(entries, indent=1, sort_keys=True))
    except OSError:
        pass
