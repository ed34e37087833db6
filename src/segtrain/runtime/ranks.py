"""Which process of a multi-process run this is, read from the launcher's environment.

Lightning starts the other processes of ``--devices N`` by running the same command again with
``LOCAL_RANK`` (and ``NODE_RANK``) set; torchrun sets ``RANK``; SLURM sets ``SLURM_PROCID``. Every
process runs ``segtrain train``; only the first checks, plans and writes the run folder, and the
others join the run it prepared (:func:`wait_until_prepared`). Nothing here starts processes or
talks between them: that is Lightning's.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from segtrain.errors import UserError

READY = ".prepared"
"""Marker in the run folder: the first process has written config, plan and split, and starts training."""


def rank() -> int:
    """The global rank of this process as its launcher set it (0 when nothing is set)."""
    env = os.environ
    if "RANK" in env:  # torchrun
        return int(env["RANK"])
    if int(env.get("SLURM_NTASKS", "1") or 1) > 1 and "SLURM_PROCID" in env:
        return int(env["SLURM_PROCID"])
    local, node = int(env.get("LOCAL_RANK", "0") or 0), int(env.get("NODE_RANK", "0") or 0)
    return local if node == 0 else node * 1_000 + local  # only "is it 0" matters to segtrain


def launch_id(parent: bool = False) -> str:
    """What names this launch: the torchrun or SLURM job, else the first process's pid.

    Processes started by Lightning's launcher are children of the first process, so they name it
    by their parent's pid (``parent=True``).
    """
    env = os.environ
    for key in ("TORCHELASTIC_RUN_ID", "SLURM_JOB_ID"):
        if env.get(key):
            return f"{key} {env[key]} {env.get('SLURM_STEP_ID', '')}".strip()
    return f"pid {os.getppid() if parent else os.getpid()}"


def mark_prepared(run: Path) -> None:
    """Written by the first process just before training: the others may read the run folder now."""
    (Path(run) / READY).write_text(launch_id() + "\n")


def wait_until_prepared(run: Path, timeout_s: float = 3 * 3600, poll_s: float = 0.5) -> None:
    """Block until the first process of this launch has prepared ``run`` (planning can take minutes)."""
    marker, wanted = Path(run) / READY, {launch_id(), launch_id(parent=True)}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if marker.read_text().strip() in wanted:
                return
        except OSError:
            pass
        time.sleep(poll_s)
    raise UserError(f"{run}: process {rank()} waited {timeout_s:.0f} s for the first process to prepare the run; "
                    "is the run folder on a file system all processes share?")
