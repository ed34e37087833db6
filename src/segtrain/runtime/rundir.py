"""The one run-folder layout, and atomic writes into it.

::

    RUN/config.yaml      the fully resolved config
    RUN/plan.json        every planned number with its reason
    RUN/split.json       the stems of train / val / test
    RUN/command.txt      the command lines that made and resumed the run
    RUN/lr_find.csv, lr_find.png   the learning-rate range test (when it ran)
    RUN/metrics.csv      one row per epoch
    RUN/steps.csv        one row per weight update
    RUN/grads.csv        gradient norms per layer group, every few steps
    RUN/events.jsonl     what happened (recoveries, stops, fallbacks), one JSON object a line
    RUN/findings.json    the diagnosis
    RUN/checkpoints/best.ckpt, last.ckpt
    RUN/evaluation.json  test scores
    RUN/report.html, plots/   the report and its figures
    RUN/refinement.json  test-time flips and post-processing tried on validation, and what was kept
    RUN/fine_tuning.json a run started with ``--init-from``: its scores next to the source run's on its validation images
    RUN/race.json        the budget race: every candidate, its rounds, scores and curve, and the winner
    RUN/race/            the candidates' own logs while they race (their checkpoints are removed afterwards)
    RUN/tensorboard/     event files (``train.logger: tensorboard``)
    RUN/mlruns/, wandb/  the default stores of ``train.logger: mlflow`` and ``wandb``

:class:`RunDir` names every one of them; no other module spells these names.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segtrain.errors import UserError
from segtrain.runtime.outputs import claim, created_mark, guard_output, remove_created

__all__ = ["RunDir", "atomic_write_bytes", "atomic_write_text", "created_mark", "output_error", "remove_created",
           "save_checkpoint_atomic", "write_json"]


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    A crash at any moment leaves either the old file or the new one, never a partial one.
    An ``OSError`` (a full disk, a read-only folder) names ``path``, not the temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno is not None:
            raise OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(path)) from exc
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


# OSErrors that are the user's to fix (where the output goes), as "<reason>; <fix>".
_OUTPUT_ERRORS = {
    errno.ENOSPC: "no space left on device; free space or pass another --out",
    getattr(errno, "EDQUOT", errno.ENOSPC): "disk quota exceeded; free space or pass another --out",
    errno.EACCES: "permission denied; fix the permissions or pass another --out",
    errno.EPERM: "operation not permitted; fix the permissions or pass another --out",
    errno.EROFS: "read-only file system; pass another --out",
    errno.ENOTDIR: "a part of the path is a file, not a folder; pass another --out",
    errno.EEXIST: "a file, not a folder; pass another --out",
}


# The fixes of _OUTPUT_ERRORS for a verb without an output option (evaluate, report, doctor write into RUN).
_IN_PLACE_FIXES = {
    "free space or pass another --out": "free space on that disk",
    "fix the permissions or pass another --out": "fix the permissions",
    "pass another --out": "copy the folder to a writable disk",
}


def output_error(exc: OSError, out_flag: str | None = "--out") -> str | None:
    """One line ``<path>: <reason>; <fix>`` for an OSError the user can fix (full disk, no permission,
    read-only file system, a file in the way), else None (a bug: let it surface).

    ``out_flag``: the option of the verb that names where it writes (``--out``); None for a verb that
    has none (``evaluate`` writes into its RUN folder), whose fix then names no option."""
    reason = _OUTPUT_ERRORS.get(exc.errno)
    if exc.errno == errno.EEXIST and (exc.filename is None or Path(exc.filename).is_dir()):
        return None  # an existing folder: a bug, not a file in the way
    if reason is None:
        return None
    what, _, fix = reason.partition("; ")
    fix = _IN_PLACE_FIXES.get(fix, fix) if out_flag is None else fix.replace("--out", out_flag)
    reason = f"{what}; {fix}"
    return reason if exc.filename is None else f"{exc.filename}: {reason}"


def _check_creatable(path: Path) -> None:
    """Refuse, before any work, an output folder that cannot be made or written to."""
    existing = next(p for p in (path, *path.parents) if p.exists() or p == p.parent)
    blocked = "" if existing == path else f"cannot be created, {existing} "
    if not existing.is_dir():
        raise UserError(f"{path}: {blocked}is a file, not a folder; pass another --out")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{path}: no permission to write in {existing}; fix the permissions or pass another --out")
    if hasattr(os, "statvfs") and os.statvfs(existing).f_flag & os.ST_RDONLY:
        raise UserError(f"{path}: {blocked}is on a read-only file system; pass another --out")


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

    @property
    def refinement(self) -> Path:
        """Test-time flips and post-processing tried on the validation images, and what was kept."""
        return self.path / "refinement.json"

    @property
    def race(self) -> Path:
        """The budget race: candidates, rounds, validation scores and curves, and the winner."""
        return self.path / "race.json"

    @property
    def race_dir(self) -> Path:
        """The race's candidates, one folder each (named like a run folder)."""
        return self.path / "race"

    @property
    def fine_tuning(self) -> Path:
        """``--init-from``: the source run, and both networks scored on this run's validation images."""
        return self.path / "fine_tuning.json"

    @property
    def steps(self) -> Path:
        return self.path / "steps.csv"

    @property
    def grads(self) -> Path:
        return self.path / "grads.csv"

    @property
    def events(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def findings(self) -> Path:
        return self.path / "findings.json"

    @property
    def command(self) -> Path:
        return self.path / "command.txt"

    @property
    def lr_find_csv(self) -> Path:
        return self.path / "lr_find.csv"

    @property
    def lr_find_png(self) -> Path:
        return self.path / "lr_find.png"

    @property
    def report(self) -> Path:
        return self.path / "report.html"

    @property
    def plots(self) -> Path:
        return self.path / "plots"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    @property
    def mlruns(self) -> Path:
        """The default MLflow file store of ``--logger mlflow``."""
        return self.path / "mlruns"

    @property
    def histories(self) -> dict[str, Path]:
        """The recorded histories by role, as the diagnosis reads them (``RunHistory.load``)."""
        return {"metrics": self.metrics, "steps": self.steps, "grads": self.grads, "events": self.events}

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file of the run folder outside ``checkpoints/``, ``plots/`` and ``tensorboard/``."""
        return (self.config, self.plan, self.split, self.metrics, self.evaluation, self.refinement, self.fine_tuning,
                self.race, self.lr_find_csv, self.lr_find_png, self.steps, self.grads, self.events, self.findings, self.command,
                self.report)

    @property
    def entries(self) -> tuple[str, ...]:
        """The names of every entry a run puts in its folder (what ``--overwrite`` may remove)."""
        return (*(file.name for file in self.files), *(folder.name for folder in self.folders))

    @property
    def folders(self) -> tuple[Path, ...]:
        """The folders a run may create in its folder."""
        return (self.checkpoints, self.plots, self.tensorboard, self.mlruns, self.path / "wandb", self.race_dir)

    @classmethod
    def create(cls, path: Path | str, overwrite: bool = False) -> "RunDir":
        """A fresh run folder, marked as segtrain's; an existing run is refused unless ``overwrite``.

        Only the entries of an earlier run are removed; :func:`remove_created` undoes the folder
        when the command is refused later, unless it holds a checkpoint by then.
        """
        run = cls.check_free(path, overwrite)
        existed = run.checkpoints.exists() or run.config.exists()
        claim(run.path, "train", run.entries, keep=lambda: any(run.checkpoints.glob("*.ckpt")))
        if existed:
            for folder in run.folders:
                shutil.rmtree(folder, ignore_errors=True)
            for file in run.files:
                file.unlink(missing_ok=True)
        run.checkpoints.mkdir(parents=True, exist_ok=True)
        return run

    @classmethod
    def check_free(cls, path: Path | str, overwrite: bool = False, datasets=(), inputs=()) -> "RunDir":
        """Refuse, before any work, a folder that already holds a run (unless ``overwrite``), or one that
        :func:`~segtrain.runtime.outputs.guard_output` refuses (``datasets`` and ``inputs`` being read); writes nothing."""
        run = cls(Path(path))
        _check_creatable(run.path)
        guard_output(run.path, datasets=datasets, inputs=inputs, names=run.entries, overwrite=overwrite)
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

    @classmethod
    def open_for_resume(cls, path: Path | str) -> "RunDir":
        """A run folder holding what ``train --resume`` needs: its config, plan and split."""
        run = cls(Path(path))
        if not run.path.is_dir():
            raise UserError(f"{run.path}: no such run folder; pass the --out folder of a 'segtrain train'")
        for file in (run.config, run.plan, run.split):
            if not file.exists():
                raise UserError(f"{run.path}: not a run folder that can be resumed ({file.name} is missing); "
                                "start a new run with 'segtrain train DATA --out RUN'")
        return run

    def record_command(self, argv: list[str] | None = None) -> None:
        """Append the command line of this process to ``command.txt`` (the report's provenance).

        ``segtrain``'s own entry point is written as ``segtrain``; anything else (a script using the
        Python API) as ``python ARGV...``. A resumed run adds a line to the one that created it.
        """
        import shlex

        argv = list(sys.argv if argv is None else argv) or ["python"]
        program = argv[0].replace("\\", "/")
        if program.endswith(("/segtrain", "segtrain/cli/app.py", "segtrain/__main__.py")) or program == "segtrain":
            line = shlex.join(["segtrain", *argv[1:]])
        else:
            line = shlex.join(["python", *argv])
        with self.command.open("a") as handle:
            handle.write(line + "\n")

    def checkpoint(self) -> Path:
        """The checkpoint to use for evaluation and prediction: best if present, else last."""
        return self.best if self.best.exists() else self.last
