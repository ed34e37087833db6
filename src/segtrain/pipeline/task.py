"""Which task a run folder holds (``segment`` or ``denoise``), read from its ``config.yaml`` without torch.

The verbs that read a run folder (``evaluate``, ``predict``, ``report``, ``doctor``, ``train --resume``,
``export``, ``segtrain.load``) ask this first and take the denoising path
(:mod:`segtrain.pipeline.denoise`) for a Noise2Void run.
"""

from __future__ import annotations

from pathlib import Path

from segtrain.config import load_config
from segtrain.runtime.rundir import RunDir


def run_task(run: Path | str) -> str:
    """``train.task`` of the run in ``run``; ``segment`` when its config is missing or damaged (the verb
    then says what is wrong with it)."""
    try:
        return load_config(RunDir(Path(run)).config).train.task
    except Exception:  # noqa: BLE001 - any unreadable config: the segmentation path reports it in one line
        return "segment"


def is_denoise_run(run: Path | str) -> bool:
    """Whether ``run`` holds a denoising (Noise2Void) run."""
    return run_task(run) == "denoise"
