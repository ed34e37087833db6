"""The recorded histories of a run, read leniently from its folder.

=================  ===================================================================
``metrics.csv``    one row per epoch: ``epoch, step, train_loss, val_loss, val_dice, lr,
                   seconds, train_seconds, data_share, val_fg_pred, val_fg_true,
                   peak_memory_mb, memory_limit_mb, val_dice_0 .. val_dice_{K-1}``
``steps.csv``      one row per weight update: ``step, epoch, lr, loss, grad_norm``
``grads.csv``      every few steps: ``step`` and the gradient norm of each layer group,
                   input side first
``events.jsonl``   one JSON object per line with ``kind``, ``step``, ``epoch``
=================  ===================================================================

Any file may be missing (an older run, a run killed early) and older runs lack some columns.
Numbers are read as floats (``epoch`` and ``step`` as ints); an empty or unreadable cell is
``nan``; ``nan``, ``inf`` and ``-inf`` are read as such. A run killed while writing leaves a
truncated last line: a malformed row (wrong number of cells, no readable ``epoch``/``step``)
or event line (not a JSON object) is skipped.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

NAN = float("nan")
_NAMES = {"metrics": "metrics.csv", "steps": "steps.csv", "grads": "grads.csv", "events": "events.jsonl"}
"""The files of the table above by role, for a caller that passes a folder rather than the files."""
INT_COLUMNS = ("epoch", "step")
"""Columns read as ints; a row whose key column is not a finite number is skipped."""


def parse_number(cell: str | None) -> float:
    """``float(cell)``, or ``nan`` for an empty or unreadable cell (``"inf"`` gives ``inf``)."""
    if cell is None:
        return NAN
    try:
        return float(cell)
    except ValueError:
        return NAN


def _as_int(value: float) -> int | None:
    return int(value) if math.isfinite(value) else None


def _cells(line: str) -> list[str]:
    try:
        return next(csv.reader([line]), [])
    except csv.Error:
        return []


def read_table(path: Path, key: str) -> list[dict[str, Any]]:
    """Rows of the CSV file ``path`` as dicts in header order; ``[]`` when the file is missing.

    Parameters
    ----------
    path : Path
        A CSV file with a header line.
    key : str
        The column every row must have as a finite number (``"epoch"`` or ``"step"``).

    Returns
    -------
    list of dict
        One dict per well-formed row: ``epoch``/``step`` as int (``None`` when unreadable,
        except ``key``), every other column as float.
    """
    if not path.is_file():
        return []
    lines = path.read_text(errors="replace").splitlines()
    if not lines:
        return []
    header = [name.strip() for name in _cells(lines[0])]
    rows = []
    for line in lines[1:]:
        cells = _cells(line)
        if len(cells) != len(header):
            continue
        row: dict[str, Any] = {}
        for name, cell in zip(header, cells):
            value = parse_number(cell.strip())
            row[name] = _as_int(value) if name in INT_COLUMNS else value
        if row.get(key) is None:
            continue
        rows.append(row)
    return rows


def read_events(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of ``events.jsonl``, in file order; unreadable lines skipped."""
    if not path.is_file():
        return []
    events = []
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(event, dict) and isinstance(event.get("kind"), str):
            events.append(event)
    return events


def column(rows: list[dict[str, Any]], name: str) -> list[float]:
    """The values of column ``name``, one per row (``nan`` where a row lacks it or has ``None``)."""
    out = []
    for row in rows:
        value = row.get(name)
        out.append(NAN if value is None else float(value))
    return out


def has_column(rows: list[dict[str, Any]], name: str) -> bool:
    """Whether any row has a finite value in column ``name``."""
    return any(math.isfinite(v) for v in column(rows, name))


@dataclass
class RunHistory:
    """Everything a run recorded, as plain rows.

    Parameters
    ----------
    epochs : list of dict
        ``metrics.csv`` rows, one per epoch.
    steps : list of dict
        ``steps.csv`` rows, one per weight update.
    grads : list of dict
        ``grads.csv`` rows; the keys after ``step`` are the layer groups, input side first.
    events : list of dict
        ``events.jsonl`` objects, in order (unknown kinds are kept; detectors ignore them).
    meta : dict
        Facts the files do not hold, filled by the caller when known: ``num_classes``,
        ``class_names``, ``lr``, ``precision``, ``batch_size``, ``accumulate``, ``num_workers``,
        ``width``, ``depth``, ``patch_size``, ``max_epochs``, ``memory_allowed_mb``.
    """

    epochs: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    grads: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, run: Path | str | Mapping[str, Path], meta: dict[str, Any] | None = None) -> RunHistory:
        """Read the histories of a run (missing files give empty lists).

        Parameters
        ----------
        run : Path, str or mapping
            The files by role, ``{"metrics": ..., "steps": ..., "grads": ..., "events": ...}``
            (what the caller's run-folder layout names: ``RunDir.histories``); or a folder
            holding them under the names of the table above.
        meta : dict, optional
            Facts the files do not hold (see the class docstring).
        """
        files = dict(run) if isinstance(run, Mapping) else {role: Path(run) / name for role, name in _NAMES.items()}
        return cls(
            epochs=read_table(Path(files["metrics"]), "epoch"),
            steps=read_table(Path(files["steps"]), "step"),
            grads=read_table(Path(files["grads"]), "step"),
            events=read_events(Path(files["events"])),
            meta=dict(meta or {}),
        )

    def events_of(self, kind: str) -> list[dict[str, Any]]:
        """The events whose ``kind`` is ``kind``, in order."""
        return [e for e in self.events if e.get("kind") == kind]

    @property
    def group_names(self) -> list[str]:
        """The layer groups of ``grads.csv``, input side first."""
        return [name for name in self.grads[0] if name != "step"] if self.grads else []

    @property
    def num_epochs(self) -> int:
        """The last epoch recorded in ``metrics.csv`` (0 when none)."""
        return max((row["epoch"] for row in self.epochs), default=0)

    @property
    def num_steps(self) -> int:
        """The last step recorded anywhere (0 when none)."""
        candidates = [row["step"] for row in self.steps] + [row["step"] for row in self.grads]
        candidates += [row["step"] for row in self.epochs if row.get("step") is not None]
        return max(candidates, default=0)
