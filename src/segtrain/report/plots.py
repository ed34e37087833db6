"""Plots of a run, drawn with matplotlib's Agg backend (no screen needed)."""

from __future__ import annotations

import csv
from pathlib import Path


def plot_steps(steps_csv: Path | str, out: Path | str) -> Path:
    """Two panels from ``steps.csv``: the learning rate per weight update, and the training loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(Path(steps_csv).open()))
    steps = [int(r["step"]) for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(steps, [float(r["lr"]) for r in rows], color="tab:blue")
    left.set(xlabel="weight update", ylabel="learning rate", title="learning rate per step")
    left.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    right.plot(steps, [float(r["loss"]) for r in rows], color="tab:gray", linewidth=0.8)
    right.set(xlabel="weight update", ylabel="training loss", title="training loss per step")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
