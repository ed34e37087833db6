"""Crash-safe checkpoints and exact resume.

``last.ckpt`` is written at the end of every epoch (Lightning's ``ModelCheckpoint``) and, by
:class:`PeriodicCheckpoint`, after the first step that ends ``every_s`` seconds after the
previous write. Every write is atomic (:class:`segtrain.engine.callbacks.AtomicCheckpointIO`), so
a kill at any moment leaves the previous checkpoint whole. A checkpoint holds the weights, the
optimizer, the schedule, the step and epoch counters, the callbacks' state, the loader's
position in its seeded stream (:class:`segtrain.data.loaders.datamodule.ResumableLoader`) and, through
:class:`ResumeState`, the random number generators: a resumed run takes exactly the steps the
interrupted one would have taken. :func:`truncate_histories` removes the log rows written after
the checkpoint, so the histories read as if the run had never stopped.
"""

from __future__ import annotations

import csv
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

from segtrain.runtime.rundir import RunDir, atomic_write_text


class PeriodicCheckpoint(Callback):
    """Writes ``path`` after the first step that ends ``every_s`` seconds after the previous write."""

    def __init__(self, path: Path, every_s: float):
        self.path, self.every_s = Path(path), every_s
        self.last = 0.0

    def on_train_start(self, trainer, pl_module) -> None:
        self.last = time.monotonic()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        # not after an epoch's last batch: the epoch-end checkpoint follows, after validation
        due = time.monotonic() - self.last >= self.every_s and batch_idx + 1 < trainer.num_training_batches
        if trainer.world_size > 1:
            due = trainer.strategy.reduce_boolean_decision(due, all=False)
        if due and not trainer.should_stop:
            trainer.save_checkpoint(self.path)
            self.last = time.monotonic()


class ResumeState(Callback):
    """Saves and restores the global random generators (torch, numpy, Python) with each checkpoint.

    The data pipeline draws from explicit seeds; these generators matter for dropout and for
    anything else drawing from the global state. The state is kept in tensors and plain types,
    so checkpoints load with ``weights_only=True``.
    """

    def __init__(self):
        self.loaded: dict | None = None

    def state_dict(self) -> dict:
        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        return {"torch": torch.get_rng_state(), "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos,
                                                          has_gauss, gauss],
                "python": random.getstate()}

    def load_state_dict(self, state: dict) -> None:
        self.loaded = state

    def on_train_start(self, trainer, pl_module) -> None:
        if self.loaded is None:
            return
        torch.set_rng_state(self.loaded["torch"])
        kind, keys, pos, has_gauss, gauss = self.loaded["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
        python = self.loaded["python"]
        random.setstate((python[0], tuple(python[1]), python[2]))
        self.loaded = None


def _keep_rows(path: Path, keep) -> None:
    """Rewrite a CSV keeping its header and the complete rows ``keep(row)`` accepts."""
    if not path.exists():
        return
    lines = path.read_text().splitlines(keepends=True)
    if not lines:
        return
    header = next(csv.reader([lines[0]]))
    kept = [lines[0]]
    for line in lines[1:]:
        if not line.endswith("\n"):
            break  # a row cut short by the kill
        row = dict(zip(header, next(csv.reader([line]))))
        if len(row) == len(header) and keep(row):
            kept.append(line)
    atomic_write_text(path, "".join(kept))


def truncate_histories(run: RunDir | Path, step: int) -> None:
    """Drop what the logs of the run folder ``run`` recorded after a checkpoint taken at ``step``."""
    run = run if isinstance(run, RunDir) else RunDir(Path(run))

    def upto(row):
        try:
            return int(float(row["step"])) <= step
        except (KeyError, ValueError):
            return False

    _keep_rows(run.steps, upto)
    _keep_rows(run.grads, upto)
    _keep_rows(run.metrics, upto)
    events = run.events
    if events.exists():
        kept = []
        for line in events.read_text().splitlines(keepends=True):
            try:
                if line.endswith("\n") and int(json.loads(line).get("step", 0)) <= step:
                    kept.append(line)
            except (ValueError, AttributeError, RecursionError):
                continue
        atomic_write_text(events, "".join(kept))
    for stale in run.checkpoints.glob(".*.tmp"):  # a write the kill interrupted
        stale.unlink(missing_ok=True)
