"""One function per user verb. The CLI parses options and calls these; scripts can too.

Each verb is a few lines over :mod:`segtrain.pipeline` (what the verbs share) and the layers
below it. Verbs that need torch import their pipeline when called, so ``segtrain.check`` and
the CLI's ``--help`` stay light.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Sequence

from segtrain.config import load_config
from segtrain.data.check.dataset import check_dataset
from segtrain.data.check.report import CheckReport
from segtrain.data.convert import convert_instances as _convert_instances
from segtrain.data.layouts import LayoutOptions
from segtrain.errors import UserError
from segtrain.pipeline.doctor import check_run_files, doctor_run
from segtrain.pipeline.options import BY_NAME as OPTIONS_BY_NAME
from segtrain.pipeline.options import OPTIONS, nested_overrides
from segtrain.pipeline.options import finite as finite_option
from segtrain.pipeline.task import is_denoise_run
from segtrain.runtime.outputs import claim, guard_output, write_marker
from segtrain.runtime.ranks import rank
from segtrain.runtime.rundir import RunDir, created_mark, output_error, remove_created, write_json
from segtrain.synthetic.horizon import check_args as check_horizon_args
from segtrain.synthetic.horizon import synthesize_horizon
from segtrain.synthetic.noisy import check_noisy_args, synthesize_noisy

logger = logging.getLogger("segtrain")

__all__ = ["OPTIONS", "OPTIONS_BY_NAME", "created_mark", "output_error", "remove_created"]
"""Besides the verbs, what the CLI reads from here: the option table (its flags and help) and the
output bookkeeping of its exit policy (a refused command removes the run folder it created)."""


SYNTH_ENTRIES = ("images", "masks")
"""What ``synth`` writes into its folder."""
DEMO_ENTRIES = ("data", "run")
"""What ``demo`` writes into its folder."""


def _undone_on_refusal(work):
    """Run ``work()``; when it is refused, remove what it created (the folders it claimed)."""
    mark = created_mark()
    try:
        return work()
    except (UserError, OSError):
        remove_created(mark)
        raise


def _read_files(config=None, plan=None, split=None) -> list[Path]:
    """The files a verb reads besides the dataset (its config, plan and split files): never an output."""
    return [Path(p) for p in (config, plan, split) if isinstance(p, (str, Path))]


def synth(out: Path | str, n: int = 200, size: int = 256, seed: int = 0, classes: int = 2, flag: str = "OUT") -> Path:
    """Write ``n`` synthetic horizon scenes to ``out/images`` and ``out/masks``; returns ``out``.

    ``out`` must be new, empty, or hold no ``images/`` and ``masks/`` that segtrain did not write.
    """
    check_horizon_args(n, size, seed, classes)
    guard_output(out, names=SYNTH_ENTRIES, flag=flag)

    def work():
        claim(out, "synth horizon", SYNTH_ENTRIES)
        synthesize_horizon(out, n=n, size=size, seed=seed, classes=classes)

    _undone_on_refusal(work)
    return Path(out)


def synth_noisy(out: Path | str, n: int = 40, size: int = 256, seed: int = 0, sigma: float = 25.0,
                poisson: float | None = None) -> Path:
    """Write ``n`` noisy gray images to ``out/images`` and their clean originals to ``out/clean``; returns ``out``."""
    check_noisy_args(n, size, seed, sigma, poisson)
    guard_output(out, names=("images", "clean"), flag="OUT")

    def work():
        claim(out, "synth noisy", ("images", "clean"))
        synthesize_noisy(out, n=n, size=size, seed=seed, sigma=sigma, poisson=poisson)

    _undone_on_refusal(work)
    return Path(out)


def check(data: Path | str, num_classes: int | None = None, ignore_index: int | None = None, **layout) -> CheckReport:
    """Check a dataset folder in one pass; returns a ``CheckReport`` (``report.ok`` tells). ``ignore_index``: a raw
    mask value to ignore (not a class); ``layout``: ``images``, ``masks``, ``mask_pattern``, ``roi`` (LayoutOptions)."""
    return check_dataset(data, num_classes=num_classes, ignore_index=ignore_index, layout=LayoutOptions(**layout))


def convert_instances(data: Path | str, out: Path | str, to: str = "semantic") -> dict[str, Any]:
    """Instance masks of ``data`` to class masks in a new dataset folder ``out`` (``to``: semantic or boundary)."""
    if to not in ("semantic", "boundary"):
        raise UserError(f"--to {to!r}: choose semantic or boundary")
    guard_output(out, datasets=[data], flag="OUT")
    result = _convert_instances(data, out, to=to)
    write_marker(out, "convert instances", owner=True)  # new or empty before: all of it is segtrain's
    return result


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
    ``lr_find.png`` beside it. ``options`` are the same as :func:`train`'s; with ``race=True`` the
    budget race runs alone (its record, ``race.json``, beside ``out``) and the plan keeps the winner.
    """
    from segtrain.pipeline.prepare import make_plan, prepare, write_lr_curve
    from segtrain.pipeline.race import race_alone

    names = [] if out is None else [Path(out).name, RunDir(Path()).lr_find_csv.name, RunDir(Path()).lr_find_png.name]
    if out is not None and options.get("race"):
        names.append(RunDir(Path()).race.name)
    if out is not None:
        out = Path(out)
        reads = _read_files(config, split=options.get("split"))
        for name in names:
            guard_output(out.parent / name, kind="file", datasets=[data], inputs=reads, flag="--out")
    prepared = prepare(data, config, options)
    result = make_plan(prepared)
    race = race_alone(prepared, result) if prepared.cfg.train.race else None  # only when asked (--race)
    if out is not None:
        def work():
            claim(out.parent, "plan", names)
            write_json(out, result.to_dict())
            write_lr_curve(result, out.parent)
            if race is not None:
                write_json(out.parent / RunDir(Path()).race.name, race)

        _undone_on_refusal(work)
    return result


def lr_find(data: Path | str, out: Path | str = ".", *, config=None, **options) -> dict[str, Any]:
    """Run the learning-rate range test alone; writes ``lr_find.csv`` and ``lr_find.png`` to ``out``."""
    from segtrain.pipeline.prepare import make_plan, prepare, write_lr_curve

    names = [RunDir(Path()).lr_find_csv.name, RunDir(Path()).lr_find_png.name]
    guard_output(out, kind="shared", datasets=[data], inputs=_read_files(config, split=options.get("split")),
                 names=names, flag="--out")
    prepared = prepare(data, config, options)
    if prepared.cfg.train.lr is not None:
        raise UserError("--lr is given, so there is nothing to find; leave it out")
    prepared.cfg.train.epochs = prepared.cfg.train.epochs or 1  # the duration does not matter here: no budget probe
    result = make_plan(prepared)

    def work():
        claim(out, "lr-find", names)
        return write_lr_curve(result, Path(out))

    files = _undone_on_refusal(work)
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
          progress: bool | None = None, verbose: bool = False, report: bool = True, loggers: Sequence = (),
          callbacks: Sequence = (), **options) -> "TrainResult":
    """Check, split, plan and train; returns where the run is and how it went.

    ``options`` (``epochs``, ``batch_size``, ``lr``, ``patch_size``, ``budget``, ``max_steps``,
    ``steps_per_epoch``, ``accumulate``, ``optimizer``, ``schedule``, ``loss``, ``precision``,
    ``num_classes``, ``norm``, ``split``, ``seed``, ``lr_find``) override ``config`` (a YAML path,
    a dict or a ``SegtrainConfig``), which overrides a saved ``plan`` file, which overrides the
    planner. The run folder receives ``config.yaml``, ``plan.json``, ``split.json``,
    ``metrics.csv``, ``lr_find.csv``, ``plots/`` and ``checkpoints/``. With ``report`` (the
    default), the best checkpoint is then scored on the test split (``evaluation.json``) and
    ``report.html`` is written: see :func:`finish`. ``loggers`` and ``callbacks``: your own Lightning
    loggers and callbacks, added to the Trainer beside segtrain's (whose ``metrics.csv`` and ``steps.csv``
    stay what ``doctor`` and the report read). ``init_from=RUN`` fine-tunes from a finished run.
    """
    from segtrain.engine.trainer import UserHooks
    from segtrain.pipeline.run import finish, train_new

    if rank() == 0:  # the further processes of a multi-process run join the folder the first one made
        RunDir.check_free(out, overwrite, datasets=[data], inputs=_read_files(config, plan, options.get("split")))
    hooks = UserHooks(tuple(loggers or ()), tuple(callbacks or ()))
    result = _undone_on_refusal(lambda: train_new(data, out, config, plan, overwrite, progress, verbose, options,
                                                  hooks))
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
    from segtrain.pipeline.denoise import resume_denoise
    from segtrain.pipeline.resume import resume_run
    from segtrain.pipeline.run import finish

    result = resume_denoise(run, options, progress, verbose) if is_denoise_run(run) else \
        resume_run(run, data, config, progress, verbose, options)
    return finish(result) if report else result


def evaluate(run: Path | str, data: Path | str | None = None, split: str = "test",
             device: str = "auto") -> dict[str, Any]:
    """Score the run's best checkpoint on whole images of a split; writes ``evaluation.json``. ``device``:
    auto (the accelerator the run trained on, when present), cpu, cuda, cuda:N or mps."""
    from segtrain.evaluation.denoise import evaluate_denoise
    from segtrain.evaluation.split import evaluate_run

    _guard_run_outputs(run, data)
    if is_denoise_run(run):
        return evaluate_denoise(RunDir.open(run).path, data, split, device=_device(run, device))
    return evaluate_run(run, data, split, device=_device(run, device))


def _device(run: Path | str, device: str | None) -> str:
    """``--device`` resolved for a run (``auto``: where its plan says it trained, when that is here)."""
    from segtrain.inference.devices import resolve_device

    try:
        trained_on = json.loads(RunDir(Path(run)).plan.read_text()).get("device")
    except (OSError, ValueError, AttributeError):
        trained_on = None
    return resolve_device(device, trained_on)


def _guard_run_outputs(run: Path | str, data: Path | str | None) -> None:
    """A run folder written into (``evaluation.json``, ``report.html``) must not lie in the dataset it reads."""
    if data is None:
        try:
            data = load_config(RunDir(Path(run)).config).data.root
        except Exception:  # a damaged or missing config: the verb itself says what is wrong with it
            return
    guard_output(run, kind="shared", datasets=[data], names=[], flag="RUN")


def doctor(run: Path | str) -> dict[str, Any]:
    """Findings about a run from its histories (also a killed run); writes ``findings.json``."""
    if is_denoise_run(run):
        from segtrain.pipeline.denoise import doctor_denoise

        return doctor_denoise(run)
    return doctor_run(run)


def report(run: Path | str, device: str = "auto") -> Path:
    """Build ``RUN/report.html`` (and ``RUN/plots/``) from the run folder alone; returns its path."""
    from segtrain.reporting.denoise import build_denoise_report
    from segtrain.reporting.html import build_report

    if Path(run).is_dir():
        check_run_files(RunDir(Path(run)))  # a damaged run file: one line naming it, before any figure
    if is_denoise_run(run):
        return build_denoise_report(RunDir.open(run).path, device=_device(run, device))
    return build_report(Path(run), device=_device(run, device))


def predict(run: Path | str, inputs: Sequence[Path | str], out: Path | str, probabilities: bool = False,
            nan_as: float | None = None, device: str = "auto", as_input_range: bool = False) -> list[Path]:
    """Masks for images of any size by tiled inference: ``out/<stem>.png`` (and ``<stem>_prob.tif``); a TIFF
    too large for memory is predicted by windows into ``out/<stem>.tif`` (:mod:`segtrain.inference.large`).
    An image with NaN or infinite pixels is refused unless ``nan_as`` (a finite number) says what to read them as.
    A denoising run writes ``out/<stem>.tif``, float32 (``as_input_range``: the input's 8/16-bit type)."""
    from segtrain.inference.denoise import Denoiser, denoise_files
    from segtrain.inference.files import expand_inputs, predict_files
    from segtrain.inference.predictor import Predictor

    nan_as = finite_option("nan_as", nan_as)
    files = expand_inputs(inputs)
    checkpoint = RunDir.open(run).checkpoint()
    guard_output(out, datasets=[p for p in map(Path, inputs) if p.is_dir()], inputs=[run, checkpoint], names=[])
    if is_denoise_run(run):  # float32 (or the input's type) TIFFs of the denoised images
        return denoise_files(Denoiser.from_checkpoint(checkpoint, _device(run, device)), files, Path(out), as_input_range)
    predictor = Predictor.from_checkpoint(checkpoint, _device(run, device))
    return _undone_on_refusal(lambda: predict_files(predictor, files, Path(out), probabilities, reads=[run],
                                                    nan_as=nan_as))


def demo(out: Path | str = "runs/demo", budget: str | float = "2m30s", n: int = 200, size: int = 256, seed: int = 0,
         progress: bool | None = None) -> dict[str, Any]:
    """Synthesise the horizon set, train within ``budget``; the run ends scored on its test split, with its report."""
    out = Path(out)
    start = time.perf_counter()
    data, run = out / "data", out / "run"
    from segtrain.pipeline.prepare import build_run_config

    check_horizon_args(n, size, seed, 2)
    build_run_config(None, data, nested_overrides({"budget": budget, "seed": seed}))  # refused before synthesising
    guard_output(out, names=DEMO_ENTRIES, flag="--out")
    guard_output(data, names=SYNTH_ENTRIES, flag="--out")
    RunDir.check_free(run, overwrite=True)

    def work():
        claim(out, "demo", DEMO_ENTRIES)
        synth(data, n=n, size=size, seed=seed, flag="--out")
        logger.info(f"synthesised {n} horizon scenes of {size}x{size} in {data}")
        return train(data, run, budget=budget, seed=seed, overwrite=True, progress=progress)

    result = _undone_on_refusal(work)
    return {"data": str(data), "run": str(result.run), "train": result, "evaluation": result.evaluation,
            "seconds": time.perf_counter() - start}


def load(run: Path | str, device: str = "auto"):
    """The run's network as a Python object: ``segtrain.load(RUN).predict(array)`` gives what ``predict``
    writes for that image (:class:`segtrain.inference.model.Model`)."""
    from segtrain.inference.denoise import DenoiseModel
    from segtrain.inference.model import Model

    return DenoiseModel(run, device=device) if is_denoise_run(run) else Model(run, device=device)


def export(run: Path | str, format: str = "onnx", out: Path | str | None = None) -> dict[str, Any]:
    """Write the run's network as ONNX or TorchScript (``out``, default ``RUN/model.onnx`` or ``.pt``) with
    ``<out>.json`` beside it; checked on the run's validation images before it is reported
    (:mod:`segtrain.exporting.formats`). Returns the paths and the parity figures. ``bioimageio``: a
    bioimage.io model package (``RUN/model.bioimageio.zip``) that bioimage.io's validator passed
    (:mod:`segtrain.exporting.bioimage_package`; needs the ``bioimageio`` extra)."""
    from segtrain.exporting.formats import FORMATS, export_run, validation_images
    from segtrain.inference.predictor import Predictor, load_checkpoint

    if is_denoise_run(run):
        raise UserError("export: denoising runs cannot be exported yet; use 'segtrain predict' or segtrain.load(RUN)")
    if format not in (*FORMATS, "bioimageio"):
        raise UserError(f"--format {format!r}: choose {', '.join(FORMATS)} or bioimageio")
    if format == "bioimageio":
        from segtrain.exporting.bioimage_package import require_bioimageio

        require_bioimageio()  # the extra, before anything is read
    rundir = RunDir.open(run)
    checkpoint = rundir.checkpoint()
    suffix = ".bioimageio.zip" if format == "bioimageio" else FORMATS[format]
    target = Path(out) if out is not None else rundir.path / f"model{suffix}"
    predictor = Predictor(load_checkpoint(checkpoint), bf16=False)
    root = predictor.config.data.root
    names = [target] if format == "bioimageio" else [target, target.with_name(target.name + ".json")]
    for name in names:
        guard_output(name, kind="file", datasets=[root] if root else [], inputs=[checkpoint, rundir.config], flag="--out")
    images, source = validation_images(predictor, rundir)
    if format == "bioimageio":
        return _export_bioimageio(rundir, predictor, target, images, source)

    def work():
        claim(target.parent, "export", [target.name, target.name + ".json"])
        return export_run(rundir, predictor, format, target, images)

    exported = _undone_on_refusal(work)
    logger.info(f"{exported.parity.describe()} ({source})")
    return {"path": str(exported.path), "metadata": str(exported.metadata), "format": format,
            "parity": exported.parity.to_dict(), "parity_images": source}


def _export_bioimageio(rundir: RunDir, predictor, target: Path, images, source: str) -> dict[str, Any]:
    """``export --format bioimageio``: the package, reported only once bioimage.io's validator passed it."""
    from segtrain.exporting.bioimage_package import export_package

    def work():
        claim(target.parent, "export", [target.name])
        return export_package(rundir, predictor, target, images)

    path, parity, validator = _undone_on_refusal(work)
    logger.info(f"{parity.describe()} ({source}); {path}: {validator}")
    return {"path": str(path), "metadata": None, "format": "bioimageio", "parity": parity.to_dict(),
            "parity_images": source, "validator": validator}
