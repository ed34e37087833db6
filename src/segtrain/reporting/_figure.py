"""Shared plumbing of the report's figures: reading run files, making and saving a figure.

Figures are :class:`matplotlib.figure.Figure` objects saved through the Agg canvas, never
through ``pyplot``: no global backend is switched, no window opens, nothing is left open.
PNGs are written without the ``Software`` metadata entry, so the same data and the same
matplotlib give byte-identical files.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from segtrain.config.io import read_csv

DPI = 100
"""Resolution of every PNG: 100 dots per inch keeps a 7-inch figure at 700 px, sharp on a phone."""


def read_json(path: Path | str | None) -> Any:
    """The content of a JSON file, or ``None`` when ``path`` is ``None``, missing or not JSON."""
    if path is None:
        return None
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError, RecursionError):
        return None


def _number(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def read_columns(path: Path | str | None) -> dict[str, np.ndarray] | None:
    """A CSV file as ``{column: float array}`` (empty or unreadable cells are ``NaN``).

    Returns ``None`` when ``path`` is ``None``, missing, or holds a header but no rows.
    """
    if path is None or not Path(path).is_file():
        return None
    rows = read_csv(path, "CSV file", "the run folder was damaged or edited; restore the file or train again")[1]
    if not rows:
        return None
    return {name: np.array([_number(row.get(name)) for row in rows]) for name in rows[0] if name is not None}


def finite(values: np.ndarray | None) -> bool:
    """Whether ``values`` holds at least one finite number."""
    return values is not None and bool(np.isfinite(values).any())


def new_figure(width: float = 7.0, height: float = 4.0, rows: int = 1, cols: int = 1):
    """A figure and its axes (one ``Axes`` for a 1x1 grid, else a 2-D array of them)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, (axes[0, 0] if rows == cols == 1 else axes)


def save(fig, out: Path | str) -> Path:
    """Write ``fig`` as PNG to ``out`` (parents created) and return ``out`` as a Path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI, format="png", metadata={"Software": None})
    return out
