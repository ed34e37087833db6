"""One function per user verb. The CLI parses options and calls these; scripts can too.

Each verb is a few lines over :mod:`segtrain.pipeline` (what the verbs share) and the layers
below it. Verbs that need torch import their pipeline when called, so ``segtrain.check`` and
the CLI's ``--help`` stay light.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Sequence

from segtrain.data.check.dataset import check_dataset
from segtrain.data.check.report import CheckReport
from segtrain.data.convert import convert_instances as _convert_instances
from segtrain.errors import UserError
from segtrain.pipeline.doctor import doctor_run
from segtrain.pipeline.options import BY_NAME as OPTIONS_BY_NAME
from segtrain.pipeline.options import OPTIONS
from segtrain.runtime.rundir import RunDir, created_mark, output_error, remove_created, write_json
from segtrain.synthetic.horizon import synthesize_horizon

logger = logging.getLogger("segtrain")

__all__ = ["OPTIONS", "OPTIONS_BY_NAME", "created_mark", "output_error", "remove_created"]
"""Besides the verbs, what the CLI reads from here: the option table (its flags and help) and the
output bookkeeping of its exit policy (a refused command removes the run folder it created)."""


def synth(out: Path | str, n: int = 200, size: int = 256, seed: int = 0, classes: int = 2) -> Path:
    """Write ``n`` synthetic horizon scenes to ``out/images`` and ``out/masks``; returns ``out``."""
    synthesize_horizon(out, n=n, size=size, seed=seed, classes=classes)
    return Path(out)


def check(data: Path | str, num_classes: int | None = None) -> CheckReport:
    """Check a dataset folder in one pass; returns a ``CheckReport`` (``report.ok`` tells)."""
    return check_dataset(data, num_classes=num_classes)


def convert_instances(data: Path | str, out: Path | str, to: str = "semantic") -> dict[str, Any]:
    """Instance masks of ``data`` to class masks in a new dataset folder ``out`` (``to``: semantic or boundary)."""
    if to not in ("semantic", "boundary"):
        raise UserError(f"--to {to!r}: choose semantic or boundary")
    return _convert_instances(data, out, to=to)


def __getattr__(name: str):
    if name == "TrainResult":  # defined with the training it describes (torch): imported on first use
        from segtrain.engine.fit import TrainResult

        return TrainResult
    raise AttributeError(name)


def load_plan(path: Path | str):
    """A saved ``plan.json`` as a ``TrainingPlan``; a missing or unreadable file is a user error."""
    from segtrain.pipeline.prepare import load_plan as load

    return load(path)


def plan(data: Path | str, out: Path | str | None = None, *, config=None, **options):
    """Check, split and plan without training; returns the ``TrainingPlan``.

    With ``out``, the plan is written there as JSON, with the range test's ``lr_find.csv`` and
    ``lr_find.png`` beside it. ``options`` are the same as :func:`train`'s.
    """
    from segtrain.pipeline.prepare import make_plan, prepare, write_lr_curve

    result = make_plan(prepare(data, config, options))
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_json(out, result.to_dict())
        write_lr_curve(result, out.parent)
    return result


def lr_find(data: Path | str, out: Path | str = ".", *, config=None, **options) -> dict[str, Any]:
    """Run the learning-rate range test alone; writes ``lr_find.csv`` and ``lr_find.png`` to ``out``."""
    from segtrain.pipeline.prepare import make_plan, prepare, write_lr_curve

    prepared = prepare(data, config, options)
    if prepared.cfg.train.lr is not None:
        raise UserError("--lr is given, so there is nothing to find; leave it out")
    prepared.cfg.train.epochs = prepared.cfg.train.epochs or 1  # the duration does not matter here: no budget probe
    result = make_plan(prepared)
    files = write_lr_curve(result, Path(out))
    finder = result.get("lr_finder") or {}
    return {
        "suggestion": finder.get("suggestion"),
        "lr": result["lr"],
        "batch_size": result["batch_size"],
        "reason": result.items["lr"].reason,
        "finder": finder,
        "finder_reason": result.items["lr_finder"].reason if "lr_finder" in result else None,
        "files": [str(f) for f in files],
    }


def train(data: Path | str, out: Path | str, *, config=None, plan: Path | str | None = None, overwrite: bool = False,
          progress: bool | None = None, verbose: bool = False, report: bool = True, **options) -> "TrainResult":
    """Check, split, plan and train; returns where the run is and how it went.

    ``options`` (``epochs``, ``batch_size``, ``lr``, ``patch_size``, ``budget``, ``max_steps``,
    ``steps_per_epoch``, ``accumulate``, ``optimizer``, ``schedule``, ``loss``, ``precision``,
    ``num_classes``, ``norm``, ``split``, ``seed``, ``lr_find``) override ``config`` (a YAML path,
    a dict or a ``SegtrainConfig``), which overrides a saved ``plan`` file, which overrides the
    planner. The run folder receives ``config.yaml``, ``plan.json``, ``split.json``,
    ``metrics.csv``, ``lr_find.csv``, ``plots/`` and ``checkpoints/``. With ``report`` (the
    default), the best checkpoint is then scored on the test split (``evaluation.json``) and
    ``report.html`` is written: see :func:`finish`.
    """
    from segtrain.pipeline.run import finish, train_new

    result = train_new(data, out, config, plan, overwrite, progress, verbose, options)
    return finish(result) if report else result


def finish(result: "TrainResult") -> "TrainResult":
    """End a run: score its best checkpoint on the test split (touched here only), then write ``report.html``."""
    from segtrain.pipeline.run import finish as finish_run

    return finish_run(result)


def resume(run: Path | str, data: Path | str | None = None, *, config=None, progress: bool | None = None,
           verbose: bool = False, report: bool = True, **options) -> "TrainResult":
    """Continue the run in ``run`` from its ``last.ckpt`` (or from the start if it has none).

    The run continues exactly as it was configured and planned: a killed run resumed ends with
    the weights it would have had. ``epochs``, ``budget`` or ``max_steps`` extend it (also a
    finished run); any other option, a ``config`` or a ``data`` folder that differ from the run's
    are refused, since they would make a different run. ``report`` as for :func:`train`.
    """
    from segtrain.pipeline.resume import resume_run
    from segtrain.pipeline.run import finish

    result = resume_run(run, data, config, progress, verbose, options)
    return finish(result) if report else result


def evaluate(run: Path | str, data: Path | str | None = None, split: str = "test") -> dict[str, Any]:
    """Score the run's best checkpoint on whole images of a split; writes ``evaluation.json``."""
    from segtrain.evaluation.split import evaluate_run

    return evaluate_run(run, data, split)


def doctor(run: Path | str) -> dict[str, Any]:
    """Findings about a run from its histories (also a killed run); writes ``findings.json``."""
    return doctor_run(run)


def report(run: Path | str) -> Path:
    """Build ``RUN/report.html`` (and ``RUN/plots/``) from the run folder alone; returns its path."""
    from segtrain.reporting.html import build_report

    return build_report(Path(run))


def predict(run: Path | str, inputs: Sequence[Path | str], out: Path | str, probabilities: bool = False) -> list[Path]:
    """Masks for images of any size by tiled inference: ``out/<stem>.png`` (and ``<stem>_prob.tif``); a TIFF
    too large for memory is predicted by windows into ``out/<stem>.tif`` (:mod:`segtrain.inference.large`)."""
    from segtrain.inference.files import expand_inputs, predict_files
    from segtrain.inference.predictor import Predictor

    files = expand_inputs(inputs)
    predictor = Predictor.from_checkpoint(RunDir.open(run).checkpoint())
    return predict_files(predictor, files, Path(out), probabilities)


def demo(out: Path | str = "runs/demo", budget: str | float = "2m30s", n: int = 200, size: int = 256, seed: int = 0,
         progress: bool | None = None) -> dict[str, Any]:
    """Synthesise the horizon set, train within ``budget``; the run ends scored on its test split, with its report."""
    out = Path(out)
    start = time.perf_counter()
    data = out / "data"
    synth(data, n=n, size=size, seed=seed)
    logger.info(f"synthesised {n} horizon scenes of {size}x{size} in {data}")
    result = train(data, out / "run", budget=budget, seed=seed, overwrite=True, progress=progress)
    return {"data": str(data), "run": str(result.run), "train": result, "evaluation": result.evaluation,
            "seconds": time.perf_counter() - start}
