"""The ``segtrain`` command: parse options, call :mod:`segtrain.api`, print. Nothing else.

Exit codes: 0 success, 2 a problem the user can fix (one line per problem on stderr),
1 an internal error (a bug: the traceback is shown).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import List, Optional

import typer

from segtrain.errors import DataError, UserError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Train 2D semantic-segmentation networks from a folder of images/ and masks/.",
)
synth_app = typer.Typer(no_args_is_help=True, help="Write synthetic datasets.")
app.add_typer(synth_app, name="synth")
convert_app = typer.Typer(no_args_is_help=True, help="Convert masks into a format segtrain trains on.")
app.add_typer(convert_app, name="convert")

logger = logging.getLogger("segtrain")


def _version(value: bool) -> None:
    if value:
        from segtrain._version import __version__

        sys.stdout.write(f"segtrain {__version__}\n")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Train 2D semantic-segmentation networks from a folder of images/ and masks/."""


def _console(quiet: bool = False, verbose: bool = False) -> None:
    from segtrain.runtime.log import setup_console

    setup_console(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)


def _print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@synth_app.command("horizon")
def synth_horizon(
    out: Path = typer.Argument(..., metavar="OUT", help="Folder to write images/ and masks/ into."),
    n: int = typer.Option(200, "--n", help="Number of scenes."),
    size: int = typer.Option(256, "--size", help="Height and width in pixels."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same files."),
    classes: int = typer.Option(2, "--classes", help="2: sky / not sky; 3: land / sky / water."),
) -> None:
    """Synthetic outdoor scenes with exact sky masks (1 = sky)."""
    _console()
    from segtrain import api

    api.synth(out, n=n, size=size, seed=seed, classes=classes)
    logger.info(f"wrote {n} images to {out / 'images'} and masks to {out / 'masks'}")


@convert_app.command("instances")
def convert_instances(
    data: Path = typer.Argument(..., metavar="DATA", help="Dataset folder whose masks hold one id per object."),
    out: Path = typer.Argument(..., metavar="OUT", help="New dataset folder to write (must not exist or be empty)."),
    to: str = typer.Option("semantic", "--to", help="semantic: object / background; boundary: also a boundary class "
                                                    "between touching objects."),
) -> None:
    """Instance masks (one id per object) to class masks segtrain trains on; DATA is not changed."""
    _console()
    from segtrain import api

    result = api.convert_instances(data, out, to=to)
    logger.info(f"wrote {result['pairs']} images and {to} masks ({result['objects']} objects) to {out}; "
                f"train with: segtrain train {out} --out RUN")


@app.command()
def check(
    data: Path = typer.Argument(..., metavar="DATA", help="Dataset folder holding images/ and masks/."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    num_classes: Optional[int] = typer.Option(None, "--num-classes", help="Number of classes (inferred when absent)."),
) -> None:
    """Check every image and mask in one pass; exit code 2 if anything is wrong."""
    _console()
    from segtrain import api

    report = api.check(data, num_classes=num_classes)
    if as_json:
        _print_json(report.to_dict())
    elif report.ok:  # a failed check prints only what must be fixed, one line per problem
        for notice in report.notices:
            logger.info(f"notice: {notice}")
        channels = {1: "gray", 3: "RGB"}.get(report.channels, str(report.channels))
        logger.info(f"{data}: {report.n_pairs} image/mask pairs, {channels}, {report.num_classes} classes: OK")
    if not report.ok:
        raise DataError(report.problems)


# Options shared by plan, lr-find and train: each overrides the planned value.
_EPOCHS = typer.Option(None, "--epochs", help="Number of epochs (planned from --budget when absent).")
_BATCH = typer.Option(None, "--batch-size", help="Patches per forward pass (planned: the largest that fits and pays).")
_ACCUMULATE = typer.Option(None, "--accumulate", help="Micro-batches per weight update; effective batch = batch x this.")
_LR = typer.Option(None, "--lr", help="Initial (or peak) learning rate (planned by the range test).")
_PATCH = typer.Option(None, "--patch-size", help="Side of the square training patches.")
_BUDGET = typer.Option(None, "--budget", help="Wall-clock training budget, e.g. 90s, 5m, 1h.")
_MAX_STEPS = typer.Option(None, "--max-steps", help="Stop after this many weight updates.")
_STEPS = typer.Option(None, "--steps-per-epoch", help="Weight updates per epoch (default ceil(patches / effective batch)).")
_OPTIMIZER = typer.Option(None, "--optimizer", help="adamw, adam or sgd.")
_SCHEDULE = typer.Option(None, "--schedule", help="constant, step, exponential, poly, cosine, onecycle or plateau.")
_LOSS = typer.Option(
    None, "--loss",
    help="Loss terms: ce, dice, jaccard, tversky, focal, lovasz, boundary; combine as dice+ce or dice:1,focal:0.5.")
_CLASS_WEIGHTS = typer.Option(
    None, "--class-weights",
    help="Cross-entropy class weights: none, frequency (from the training masks), or one per class: 1,5,5.")
_PRECISION = typer.Option(None, "--precision", help="32, bf16-mixed or 16-mixed (planned: the fastest that agrees with float32).")
_NORM = typer.Option(None, "--norm", help="batch, instance, group or none.")
_NO_LR_FIND = typer.Option(False, "--no-lr-find", help="Skip the learning-rate range test; use the stated default.")
_CLASSES = typer.Option(None, "--num-classes", help="Number of classes (inferred when absent).")
_SPLIT = typer.Option(None, "--split", help="A split.json to use.")
_SEED = typer.Option(None, "--seed", help="Random seed (default 0).")
_CONFIG = typer.Option(None, "--config", help="A YAML config; options given here override it.")


_PLAN_OPTIONS = (
    "epochs", "batch_size", "accumulate", "lr", "patch_size", "budget", "max_steps", "steps_per_epoch", "optimizer",
    "schedule", "loss", "precision", "norm", "num_classes", "split", "seed", "class_weights",
)
_TRAIN_ONLY = ("threshold", "tune_threshold", "clip_grad", "init", "logger", "devices", "num_nodes", "strategy",
               "num_workers", "cache_mb", "compile")


def _class_weights(text: str | None):
    if text is None or text.strip().lower() in ("none", "frequency"):
        return None if text is None else text.strip().lower()
    try:
        return [float(w) for w in text.split(",")]
    except ValueError:
        raise UserError(f"--class-weights {text!r}: write none, frequency, or one number per class like 1,5,5") from None


def _options(values: dict) -> dict:
    """The planning options among a command's arguments; ``--no-lr-find`` becomes ``lr_find=False``."""
    options = {name: values[name] for name in _PLAN_OPTIONS}
    options["lr_find"] = False if values["no_lr_find"] else None
    options["class_weights"] = _class_weights(values["class_weights"])
    for name in _TRAIN_ONLY:
        if name in values:  # an unset flag (False) is "not given"; 0 is a value
            options[name] = None if values[name] is False else values[name]
    return options


@app.command()
def plan(
    data: Path = typer.Argument(..., metavar="DATA", help="Dataset folder holding images/ and masks/."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the plan here as JSON (with lr_find.csv/png beside it)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    epochs: Optional[int] = _EPOCHS, batch_size: Optional[int] = _BATCH, accumulate: Optional[int] = _ACCUMULATE,
    lr: Optional[float] = _LR, patch_size: Optional[int] = _PATCH, budget: Optional[str] = _BUDGET,
    max_steps: Optional[int] = _MAX_STEPS, steps_per_epoch: Optional[int] = _STEPS,
    optimizer: Optional[str] = _OPTIMIZER, schedule: Optional[str] = _SCHEDULE, loss: Optional[str] = _LOSS,
    precision: Optional[str] = _PRECISION, norm: Optional[str] = _NORM, no_lr_find: bool = _NO_LR_FIND,
    num_classes: Optional[int] = _CLASSES, split: Optional[Path] = _SPLIT, seed: Optional[int] = _SEED,
    class_weights: Optional[str] = _CLASS_WEIGHTS, config: Optional[Path] = _CONFIG,
) -> None:
    """Plan a training run from the data and this machine: every number with its reason."""
    _console(quiet=as_json)
    from segtrain import api

    options = _options(locals())
    result = api.plan(data, out, config=config, **options)
    if as_json:
        _print_json(result.to_dict())
    else:
        logger.info(result.format())
    if out is not None and not as_json:
        logger.info(f"plan written to {out}; train with: segtrain train {data} --plan {out} --out RUN")


@app.command("lr-find")
def lr_find(
    data: Path = typer.Argument(..., metavar="DATA", help="Dataset folder holding images/ and masks/."),
    out: Path = typer.Option(Path("."), "--out", "-o", help="Folder for lr_find.csv and lr_find.png."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    batch_size: Optional[int] = _BATCH, patch_size: Optional[int] = _PATCH, optimizer: Optional[str] = _OPTIMIZER,
    loss: Optional[str] = _LOSS, precision: Optional[str] = _PRECISION, norm: Optional[str] = _NORM,
    num_classes: Optional[int] = _CLASSES, split: Optional[Path] = _SPLIT, seed: Optional[int] = _SEED,
    class_weights: Optional[str] = _CLASS_WEIGHTS, config: Optional[Path] = _CONFIG,
) -> None:
    """Learning-rate range test: the rate grows from 1e-7 towards 10; suggests a rate and plots the curve."""
    _console(quiet=as_json)
    from segtrain import api

    result = api.lr_find(
        data, out, config=config, batch_size=batch_size, patch_size=patch_size, optimizer=optimizer, loss=loss,
        precision=precision, norm=norm, num_classes=num_classes, split=split, seed=seed,
        class_weights=_class_weights(class_weights),
    )
    if as_json:
        _print_json(result)
        return
    logger.info(f"range test: {result['finder_reason']}")
    logger.info(f"learning rate for batch {result['batch_size']}: {result['lr']:.3g} ({result['reason']})")
    logger.info("curve: " + ", ".join(result["files"]))


@app.command()
def train(
    data: Optional[Path] = typer.Argument(None, metavar="DATA", help="Dataset folder holding images/ and masks/ (not needed with --resume)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder to create."),
    resume: Optional[Path] = typer.Option(
        None, "--resume", help="Continue this run folder from its last checkpoint; with --epochs, --budget or "
                               "--max-steps, train a finished run longer."),
    plan_file: Optional[Path] = typer.Option(None, "--plan", help="A plan.json from 'segtrain plan'; options given here override it."),
    epochs: Optional[int] = _EPOCHS, batch_size: Optional[int] = _BATCH, accumulate: Optional[int] = _ACCUMULATE,
    lr: Optional[float] = _LR, patch_size: Optional[int] = _PATCH, budget: Optional[str] = _BUDGET,
    max_steps: Optional[int] = _MAX_STEPS, steps_per_epoch: Optional[int] = _STEPS,
    optimizer: Optional[str] = _OPTIMIZER, schedule: Optional[str] = _SCHEDULE, loss: Optional[str] = _LOSS,
    precision: Optional[str] = _PRECISION, norm: Optional[str] = _NORM, no_lr_find: bool = _NO_LR_FIND,
    num_classes: Optional[int] = _CLASSES, split: Optional[Path] = _SPLIT, seed: Optional[int] = _SEED,
    class_weights: Optional[str] = _CLASS_WEIGHTS, config: Optional[Path] = _CONFIG,
    clip_grad: Optional[float] = typer.Option(
        None, "--clip-grad", help="Clip the gradients' total norm to this value before each update."),
    init: Optional[str] = typer.Option(None, "--init", help="Weight initialisation: default, kaiming or xavier."),
    devices: Optional[int] = typer.Option(
        None, "--devices", help="Processes per node, one per GPU (or CPU processes); the effective batch is "
                                "batch x accumulate x devices x nodes."),
    num_nodes: Optional[int] = typer.Option(None, "--num-nodes", help="Machines taking part (torchrun or SLURM start them)."),
    strategy: Optional[str] = typer.Option(
        None, "--strategy", help="auto (ddp for several processes), ddp, or ddp_fork (CPU, notebooks)."),
    logger_name: Optional[str] = typer.Option(
        None, "--logger", help="csv (metrics.csv and steps.csv, always written) or tensorboard (also event files "
                               "in RUN/tensorboard; needs the tensorboard package)."),
    num_workers: Optional[int] = typer.Option(
        None, "--workers", help="Loader processes that prepare patches while the step runs (planned from the cores; "
                                "0: the main process)."),
    cache_mb: Optional[int] = typer.Option(
        None, "--cache-mb", help="Memory for decoded training images, kept after their first read (planned: a "
                                 "quarter of the available memory; 0: read every patch's image from disk)."),
    compile_network: bool = typer.Option(
        False, "--compile", help="Compile the network with torch.compile (faster steps after a compilation of a "
                                 "minute or more; measure with bench/throughput.py)."),
    threshold: Optional[float] = typer.Option(
        None, "--threshold", help="Probability above which a pixel is foreground (binary, multilabel; default 0.5)."),
    tune_threshold: bool = typer.Option(
        False, "--tune-threshold", help="Choose the threshold that maximises validation Dice after training."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run folder."),
    no_report: bool = typer.Option(
        False, "--no-report", help="Stop after training: no test-split evaluation, no report.html (run "
                                   "'segtrain evaluate' and 'segtrain report' later)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and errors."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also show the libraries' messages."),
) -> None:
    """Check, split, plan and train a U-Net; writes the run folder. --resume RUN continues one."""
    _console(quiet, verbose)
    from segtrain import api

    options = _options({**locals(), "logger": logger_name, "compile": compile_network})
    progress = None if not quiet else False
    if resume is not None:
        if out is not None and out.resolve() != resume.resolve():
            raise UserError(f"--out {out} with --resume {resume}: a resumed run stays in its folder; leave --out out")
        if plan_file is not None:
            raise UserError("--plan with --resume: a resumed run keeps its own plan.json; leave --plan out")
        result = api.resume(resume, data, config=config, progress=progress, verbose=verbose, report=not no_report,
                            **options)
    else:
        if data is None or out is None:
            raise UserError("train needs DATA and --out RUN (or --resume RUN to continue a run)")
        result = api.train(data, out, config=config, plan=plan_file, overwrite=overwrite,
                           progress=progress, verbose=verbose, report=not no_report, **options)
    if result.rank_zero:  # the other processes of a multi-process run say nothing
        from segtrain.cli.summary import print_summary

        print_summary(result)


@app.command()
def doctor(
    run: Path = typer.Argument(..., metavar="RUN", help="Run folder written by 'segtrain train' (also a run that was killed)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Diagnose a run from its recorded histories: divergence, overfitting, underfitting, gradients, data loading."""
    _console(quiet=as_json)
    from segtrain import api

    result = api.doctor(run)
    if as_json:
        _print_json(result)
        return
    logger.info(result["text"])


@app.command()
def evaluate(
    run: Path = typer.Argument(..., metavar="RUN", help="Run folder written by 'segtrain train'."),
    data: Optional[Path] = typer.Option(None, "--data", help="Dataset folder (default: the one trained on)."),
    split: str = typer.Option("test", "--split", help="Which split to score: test, val or train."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Score the best checkpoint on whole images of the test split."""
    _console()
    from segtrain import api

    result = api.evaluate(run, data=data, split=split)
    if as_json:
        _print_json(result)
        return
    logger.info(f"{result['split']} split, {result['n_images']} images, pooled over all pixels:")
    logger.info(f"  dice {result['dice']:.4f}  iou {result['iou']:.4f}  pixel accuracy {result['pixel_accuracy']:.4f}")
    for c in result["per_class"]:
        cells = "  ".join(f"{k} {'n/a' if c.get(k) is None else format(c[k], '.4f')}"
                          for k in ("iou", "dice", "precision", "recall", "hd95", "boundary_f1"))
        logger.info(f"  class {c['name']}: {cells}")
    tolerance = result.get("boundary_tolerance_px")
    if result.get("hd95") is not None or result.get("boundary_f1") is not None:
        hd95, bf1 = result.get("hd95"), result.get("boundary_f1")
        logger.info(f"  boundary (mean over images): hd95 {'n/a' if hd95 is None else f'{hd95:.2f} px'}, "
                    f"boundary F1 at {tolerance} px {'n/a' if bf1 is None else f'{bf1:.4f}'}")
    if result.get("horizon_row_error_px") is not None:
        logger.info(f"  horizon: mean row error {result['horizon_row_error_px']:.2f} px, "
                    f"angle error {result['horizon_angle_error_deg']:.2f} degrees")


@app.command()
def report(
    run: Path = typer.Argument(..., metavar="RUN", help="Run folder written by 'segtrain train'."),
) -> None:
    """Write RUN/report.html: data, plan, curves, results, findings and provenance in one self-contained page."""
    _console()
    from segtrain import api

    path = api.report(run)
    logger.info(f"report written to {path} (figures also in {path.parent / 'plots'})")


@app.command()
def predict(
    run: Path = typer.Argument(..., metavar="RUN", help="Run folder written by 'segtrain train'."),
    inputs: List[Path] = typer.Argument(..., metavar="IMAGES", help="Image files or folders of images, of any size."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the predicted masks."),
    probabilities: bool = typer.Option(False, "--probabilities", help="Also write <stem>_prob.tif per image."),
) -> None:
    """Predict masks for new images by tiled inference."""
    _console()
    from segtrain import api

    written = api.predict(run, inputs, out, probabilities=probabilities)
    logger.info(f"wrote {len(written)} mask(s) to {out}")


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Folder for the data and the run."),
    budget: str = typer.Option("2m30s", "--budget", help="Training budget, e.g. 90s, 3m."),
    n: int = typer.Option(200, "--n", help="Number of synthetic scenes."),
) -> None:
    """Synthesise horizon scenes, train, evaluate on the test split, and say where everything is."""
    _console()
    from segtrain import api
    from segtrain._text import format_seconds

    from segtrain.cli.summary import print_summary

    result = api.demo(out, budget=budget, n=n)
    print_summary(result["train"])
    logger.info(
        f"demo finished in {format_seconds(result['seconds'])}; data in {result['data']}, "
        f"scores in {Path(result['run']) / 'evaluation.json'}, report in {Path(result['run']) / 'report.html'}\n"
        f"next: segtrain predict {result['run']} IMAGE --out predictions/"
    )


def main() -> None:
    """Console entry point: a problem the user can fix exits with code 2 and one line on stderr.

    Such problems are :class:`UserError` (one line per problem of a :class:`DataError`), an
    OSError on an output path (full disk, no permission, read-only, a file in the way) and a
    usage error (an unknown option, ``--lr abc``). A run folder the command created is removed
    again, so a refused command changes nothing on disk. ``--help`` exits 0; no arguments show
    the help (exit code 2); anything else is a bug and shows its traceback (exit code 1).
    """
    from typer import Abort, BadParameter, TyperException

    from segtrain.runtime.rundir import created_mark, output_error, remove_created

    mark, code, lines = created_mark(), None, []
    try:
        code = app(standalone_mode=False)
    except UserError as exc:
        lines = exc.problems if isinstance(exc, DataError) else [str(exc)]
    except OSError as exc:
        line = output_error(exc)
        if line is None:
            raise
        lines = [line]
    except TyperException as exc:  # usage errors, raised as they are without standalone mode
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()
            sys.exit(2)
        message = exc.format_message()
        errors = getattr(exc.__cause__, "errors", None)  # typer parses values with pydantic
        if isinstance(exc, BadParameter) and callable(errors) and errors():
            first = errors()[0]
            kind = {"float_parsing": "float", "int_parsing": "integer"}.get(first.get("type"))
            detail = f"is not a valid {kind}." if kind else f"is not valid: {first.get('msg')}"
            message = message[: message.index(": ") + 2] + f"{first.get('input')!r} {detail}"
        elif getattr(exc, "ctx", None) is not None:
            message = f"{message.rstrip('.')}; see '{exc.ctx.command_path} --help'"
        lines = [message]
    except KeyboardInterrupt:
        code = 130
    except Abort:  # end of input at a prompt
        sys.stderr.write("Aborted!\n")
        sys.exit(1)
    if code == 130:  # typer turns Ctrl-C into exit code 130
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    if not lines:
        sys.exit(code if isinstance(code, int) else 0)
    remove_created(mark)
    for line in lines:
        sys.stderr.write("error: " + " ".join(str(line).splitlines()) + "\n")
    sys.exit(2)


if __name__ == "__main__":
    main()
