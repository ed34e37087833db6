"""The one run-folder layout, and atomic writes into it.

::

    RUN/config.yaml      the fully resolved config
    RUN/plan.json        every planned number with its reason
    RUN/split.json       the stems of train / val / test
    RUN/metrics.csv      one row per epoch
    RUN/checkpoints/best.ckpt, last.ckpt
    RUN/evaluation.json  test scores
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segtrain.errors import UserError


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    A crash at any moment leaves either the old file or the new one, never a partial one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def save_checkpoint_atomic(content: Any, path: Path | str) -> None:
    """``torch.save`` into memory, then :func:`atomic_write_bytes`: a crash leaves the old file whole."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(content, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def write_json(path: Path | str, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, default=str) + "\n")


@dataclass(frozen=True)
class RunDir:
    """Paths of one run folder."""

    path: Path

    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def plan(self) -> Path:
        return self.path / "plan.json"

    @property
    def split(self) -> Path:
        return self.path / "split.json"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.csv"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def best(self) -> Path:
        return self.checkpoints / "best.ckpt"

    @property
    def last(self) -> Path:
        return self.checkpoints / "last.ckpt"

    @property
    def evaluation(self) -> Path:
        return self.path / "evaluation.json"

    @classmethod
    def create(cls, path: Path | str, overwrite: bool = False) -> "RunDir":
        """A fresh run folder; an existing one with checkpoints is refused unless ``overwrite``."""
        run = cls.check_free(path, overwrite)
        if run.checkpoints.exists() or run.config.exists():
            for name in ("checkpoints", "plots"):
                shutil.rmtree(run.path / name, ignore_errors=True)
            for file in (run.config, run.plan, run.split, run.metrics, run.evaluation,
                         run.path / "lr_find.csv", run.path / "lr_find.png", run.path / "steps.csv"):
                file.unlink(missing_ok=True)
        run.checkpoints.mkdir(parents=True, exist_ok=True)
        return run

    @classmethod
    def check_free(cls, path: Path | str, overwrite: bool = False) -> "RunDir":
        """Refuse, before any work, a folder that already holds a run (unless ``overwrite``); writes nothing."""
        run = cls(Path(path))
        if (run.checkpoints.exists() or run.config.exists()) and not overwrite:
            raise UserError(f"{run.path}: already holds a run; pass another --out or --overwrite to replace it")
        return run

    @classmethod
    def open(cls, path: Path | str) -> "RunDir":
        """An existing run folder that holds a checkpoint."""
        run = cls(Path(path))
        if not run.path.is_dir():
            raise UserError(f"{run.path}: no such run folder; pass the --out folder of a finished 'segtrain train'")
        if not run.best.exists() and not run.last.exists():
            raise UserError(f"{run.path}: holds no checkpoints/best.ckpt; train first or pass another run folder")
        return run

    def checkpoint(self) -> Path:
        """The checkpoint to use for evaluation and prediction: best if present, else last."""
        return self.best if self.best.exists() else self.last
