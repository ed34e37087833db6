"""Synthetic run histories for the diagnosis tests: a realistic healthy run, and a writer.

The healthy run is 30 epochs of 10 steps: training loss 0.6 -> 0.05 and validation loss
0.5 -> 0.08 with seeded noise (the last epochs flat), validation Dice 0.6 -> 0.97, foreground
predicted as often as it is true, 5% of the time waiting for data, 30% of the memory, gradient
norms of all layer groups within 10x of each other and no spikes. No detector may warn on it.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from segtrain.diagnosis.history import RunHistory

GROUPS = ("enc0", "enc1", "enc2", "enc3", "dec2", "dec1", "dec0", "head")


def make_healthy(epochs: int = 30, steps_per_epoch: int = 10, seed: int = 0) -> RunHistory:
    """A healthy run's history (see the module docstring)."""
    rng = random.Random(seed)
    rows = []
    for e in range(1, epochs + 1):
        decay = math.exp(-(e - 1) / 6)
        dice = 0.97 - 0.37 * math.exp(-(e - 1) / 5) + rng.gauss(0, 0.005)
        row = {
            "epoch": e, "step": e * steps_per_epoch,
            "train_loss": 0.05 + 0.55 * decay * (1 + rng.gauss(0, 0.03)),
            "val_loss": 0.08 + 0.42 * decay * (1 + rng.gauss(0, 0.05)) + rng.gauss(0, 0.002),
            "val_dice": dice, "val_iou": dice / (2 - dice), "lr": 1e-3, "seconds": 12.0, "train_seconds": 10.0,
            "data_share": 0.05 + rng.uniform(-0.01, 0.01),
            "val_fg_pred": 0.45 + rng.gauss(0, 0.01), "val_fg_true": 0.45,
            "peak_memory_mb": 3000.0 + rng.uniform(0, 50), "memory_limit_mb": 10000.0,
            "val_dice_0": 0.98, "val_dice_1": dice, "val_dice_2": dice - 0.02,
        }
        rows.append(row)
    steps = []
    for s in range(1, epochs * steps_per_epoch + 1):
        steps.append({
            "step": s, "epoch": (s - 1) // steps_per_epoch + 1, "lr": 1e-3,
            "loss": (0.05 + 0.6 * math.exp(-s / 60)) * math.exp(rng.gauss(0, 0.15)),
            "grad_norm": (0.5 + math.exp(-s / 100)) * math.exp(rng.gauss(0, 0.25)),
        })
    base = dict(zip(GROUPS, (0.2, 0.3, 0.4, 0.6, 0.5, 0.7, 1.0, 1.5)))
    grads = []
    for s in range(10, epochs * steps_per_epoch + 1, 10):
        row = {"step": s}
        row.update({g: b * math.exp(rng.gauss(0, 0.2)) for g, b in base.items()})
        grads.append(row)
    events = [{"kind": "stop", "step": steps[-1]["step"], "epoch": epochs, "reason": "planned end", "detail": ""}]
    return RunHistory(epochs=rows, steps=steps, grads=grads, events=events, meta={})


def _cell(value) -> str:
    return "" if value is None else repr(value) if isinstance(value, float) else str(value)


def write_table(path: Path, rows: list[dict]) -> None:
    """Rows as a CSV file, header from the first row (as the training callbacks write it)."""
    header = list(rows[0]) if rows else []
    lines = [",".join(header)] + [",".join(_cell(r.get(k)) for k in header) for r in rows]
    path.write_text("\n".join(lines) + "\n")


def write_run(folder: Path, history: RunHistory) -> Path:
    """Write ``history`` as a run folder's metrics.csv, steps.csv, grads.csv and events.jsonl."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("metrics.csv", history.epochs), ("steps.csv", history.steps), ("grads.csv", history.grads)):
        if rows:
            write_table(folder / name, rows)
    if history.events:
        (folder / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in history.events))
    return folder


@pytest.fixture
def healthy() -> RunHistory:
    """A fresh healthy history (tests may change it)."""
    return make_healthy()


@pytest.fixture
def run_writer():
    """:func:`write_run`, for tests that need files."""
    return write_run


@pytest.fixture
def healthy_factory():
    """:func:`make_healthy`, for tests that need another length or seed."""
    return make_healthy
