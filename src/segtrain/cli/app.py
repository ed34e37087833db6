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

from segtrain import api
from segtrain._text import format_seconds
from segtrain._version import __version__
from segtrain.cli.exits import run
from segtrain.cli.options import flag, gather
from segtrain.cli.summary import print_denoise_evaluation, print_summary
from segtrain.errors import DataError, UserError
from segtrain.runtime.log import setup_console

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

CONFIG = typer.Option(None, "--config", help="A YAML config; options given here override it.")


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"segtrain {__version__}\n")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Train 2D semantic-segmentation networks from a folder of images/ and masks/."""


def _console(quiet: bool = False, verbose: bool = False) -> None:
    setup_console(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)


def _print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _train_record(result) -> dict:
    """What ``train --json`` prints: where the run is, what it wrote, and how it went."""
    run = Path(result.run)
    written = sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file() and p.name != ".segtrain")
    return {"run": str(run), "written": written, "best_checkpoint": str(result.best_checkpoint),
            "best_val_dice": result.best_val_dice, "best_epoch": result.best_epoch, "epochs": result.epochs,
            "steps": result.steps, "seconds": result.seconds, "stopped_by": result.stopped_by,
            "evaluation": result.evaluation, "report": None if result.report is None else str(result.report),
            "findings": [f.to_dict() if hasattr(f, "to_dict") else f for f in result.findings]}


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
    api.synth(out, n=n, size=size, seed=seed, classes=classes)
    logger.info(f"wrote {n} images to {out / 'images'} and masks to {out / 'masks'}")


@synth_app.command("noisy")
def synth_noisy(
    out: Path = typer.Argument(..., metavar="OUT", help="Folder to write images/ (noisy) and clean/ into."),
    n: int = typer.Option(40, "--n", help="Number of images."),
    size: int = typer.Option(256, "--size", help="Height and width in pixels."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same files."),
    sigma: float = typer.Option(25.0, "--sigma", help="Standard deviation of the Gaussian noise, in 8-bit units."),
    poisson: Optional[float] = typer.Option(None, "--poisson", help="Also Poisson noise at this many photons per "
                                                                  "intensity unit (lower: noisier)."),
) -> None:
    """Noisy gray images (cells, membranes, textures) with their clean originals, for --task denoise."""
    _console()
    api.synth_noisy(out, n=n, size=size, seed=seed, sigma=sigma, poisson=poisson)
    logger.info(f"wrote {n} noisy images to {out / 'images'} and their clean originals to {out / 'clean'}; "
                f"train with: segtrain train {out} --task denoise --out RUN")


@convert_app.command("instances")
def convert_instances(
    data: Path = typer.Argument(..., metavar="DATA", help="Dataset folder whose masks hold one id per object."),
    out: Path = typer.Argument(..., metavar="OUT", help="New dataset folder to write (must not exist or be empty)."),
    to: str = typer.Option("semantic", "--to", help="semantic: object / background; boundary: also a boundary class "
                                                    "between touching objects."),
) -> None:
    """Instance masks (one id per object) to class masks segtrain trains on; DATA is not changed."""
    _console()
    result = api.convert_instances(data, out, to=to)
    logger.info(f"wrote {result['pairs']} images and {to} masks ({result['objects']} objects) to {out}; "
                f"train with: segtrain train {out} --out RUN")


@app.command()
def check(
    data: Path = typer.Argument(..., metavar="DATA", help="Dataset folder holding images/ and masks/."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    num_classes: Optional[int] = typer.Option(None, "--num-classes", help="Number of classes (inferred when absent)."),
    ignore_index: Optional[int] = flag("ignore_index"),
    images: Optional[str] = flag("images"), masks: Optional[str] = flag("masks"), mask_pattern: Optional[str] = flag("mask_pattern"), roi: Optional[str] = flag("roi"),
) -> None:
    """Check every image and mask in one pass; exit code 2 if anything is wrong."""
    _console()
    report = api.check(data, num_classes, ignore_index, images=images, masks=masks, mask_pattern=mask_pattern, roi=roi)
    if as_json:
        _print_json(report.to_dict())
    elif report.ok:  # a failed check prints only what must be fixed, one line per problem
        for line in report.understood():  # the layout, folders, pairing, split and counts, then the notices
            logger.info(line)
        channels = {1: "gray", 3: "RGB"}.get(report.channels, str(report.channels))
        logger.info(f"{data}: {report.n_pairs} image/mask pairs, {channels}, {report.num_classes} classes: OK")
    if not report.ok:
        if report.proposed_classes and not as_json:  # check writes nothing into the dataset: the user saves it
            # on stdout, so stderr keeps one line per problem and the content can be redirected into the file
            typer.echo(f"a classes.json for these masks, to save as {Path(data) / 'classes.json'} (rename the "
                       f"classes as you like): {report.proposed_classes}")
        raise DataError(report.problems)


@app.command()
def plan(
    data: Path = typer.Argument(..., metavar="DATA", help="Dataset folder holding images/ and masks/."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the plan here as JSON (with lr_find.csv/png beside it)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    epochs: Optional[int] = flag("epochs"), batch_size: Optional[int] = flag("batch_size"), accumulate: Optional[int] = flag("accumulate"),
    lr: Optional[float] = flag("lr"), patch_size: Optional[int] = flag("patch_size"), scale: Optional[str] = flag("scale"), budget: Optional[str] = flag("budget"),
    max_steps: Optional[int] = flag("max_steps"), steps_per_epoch: Optional[int] = flag("steps_per_epoch"),
    optimizer: Optional[str] = flag("optimizer"), schedule: Optional[str] = flag("schedule"), loss: Optional[str] = flag("loss"),
    precision: Optional[str] = flag("precision"), norm: Optional[str] = flag("norm"), no_lr_find: bool = flag("lr_find"),
    num_classes: Optional[int] = flag("num_classes"), split: Optional[Path] = flag("split"), seed: Optional[int] = flag("seed"),
    ignore_index: Optional[int] = flag("ignore_index"),
    class_weights: Optional[str] = flag("class_weights"), config: Optional[Path] = CONFIG,
    images: Optional[str] = flag("images"), masks: Optional[str] = flag("masks"), mask_pattern: Optional[str] = flag("mask_pattern"), roi: Optional[str] = flag("roi"),
    init_from: Optional[Path] = flag("init_from"),
    race: Optional[bool] = flag("race"), race_share: Optional[float] = flag("race_share"),
) -> None:
    """Plan a training run from the data and this machine: every number with its reason (--race: and race the
    candidate set-ups, saving race.json beside --out)."""
    _console(quiet=as_json)
    options = gather(locals())
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
    batch_size: Optional[int] = flag("batch_size"), patch_size: Optional[int] = flag("patch_size"), scale: Optional[str] = flag("scale"), optimizer: Optional[str] = flag("optimizer"),
    loss: Optional[str] = flag("loss"), precision: Optional[str] = flag("precision"), norm: Optional[str] = flag("norm"),
    num_classes: Optional[int] = flag("num_classes"), split: Optional[Path] = flag("split"), seed: Optional[int] = flag("seed"),
    ignore_index: Optional[int] = flag("ignore_index"),
    class_weights: Optional[str] = flag("class_weights"), config: Optional[Path] = CONFIG,
    images: Optional[str] = flag("images"), masks: Optional[str] = flag("masks"), mask_pattern: Optional[str] = flag("mask_pattern"), roi: Optional[str] = flag("roi"),
) -> None:
    """Learning-rate range test: the rate grows from 1e-7 towards 10; suggests a rate and plots the curve."""
    _console(quiet=as_json)
    result = api.lr_find(data, out, config=config, **gather(locals()))
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
    epochs: Optional[int] = flag("epochs"), batch_size: Optional[int] = flag("batch_size"), accumulate: Optional[int] = flag("accumulate"),
    lr: Optional[float] = flag("lr"), patch_size: Optional[int] = flag("patch_size"), scale: Optional[str] = flag("scale"), budget: Optional[str] = flag("budget"),
    max_steps: Optional[int] = flag("max_steps"), steps_per_epoch: Optional[int] = flag("steps_per_epoch"),
    optimizer: Optional[str] = flag("optimizer"), schedule: Optional[str] = flag("schedule"), loss: Optional[str] = flag("loss"),
    precision: Optional[str] = flag("precision"), norm: Optional[str] = flag("norm"), no_lr_find: bool = flag("lr_find"),
    num_classes: Optional[int] = flag("num_classes"), split: Optional[Path] = flag("split"), seed: Optional[int] = flag("seed"),
    ignore_index: Optional[int] = flag("ignore_index"),
    class_weights: Optional[str] = flag("class_weights"), config: Optional[Path] = CONFIG,
    images: Optional[str] = flag("images"), masks: Optional[str] = flag("masks"), mask_pattern: Optional[str] = flag("mask_pattern"), roi: Optional[str] = flag("roi"),
    clip_grad: Optional[float] = flag("clip_grad"),
    init: Optional[str] = flag("init"),
    task: Optional[str] = flag("task"),
    init_from: Optional[Path] = flag("init_from"),
    devices: Optional[int] = flag("devices"),
    num_nodes: Optional[int] = flag("num_nodes"),
    strategy: Optional[str] = flag("strategy"),
    logger_name: Optional[str] = flag("logger"),
    num_workers: Optional[int] = flag("num_workers"),
    cache_mb: Optional[int] = flag("cache_mb"),
    compile_network: bool = flag("compile"),
    threshold: Optional[float] = flag("threshold"),
    tune_threshold: bool = flag("tune_threshold"),
    tta: Optional[bool] = flag("tta"),
    race: Optional[bool] = flag("race"),
    race_share: Optional[float] = flag("race_share"),
    postprocess: Optional[str] = flag("postprocess"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run folder."),
    no_report: bool = typer.Option(
        False, "--no-report", help="Stop after training: no test-split evaluation, no report.html (run "
                                   "'segtrain evaluate' and 'segtrain report' later)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and errors."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also show the libraries' messages."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout: the run, what it "
                                                      "wrote and how it went."),
) -> None:
    """Check, split, plan and train a U-Net; writes the run folder. --resume RUN continues one."""
    _console(quiet, verbose)
    options = gather(locals())
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
        print_summary(result)
        if as_json:
            _print_json(_train_record(result))


@app.command()
def doctor(
    run: Path = typer.Argument(..., metavar="RUN", help="Run folder written by 'segtrain train' (also a run that was killed)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Diagnose a run from its recorded histories: divergence, overfitting, underfitting, gradients, data loading."""
    _console(quiet=as_json)
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
    device: str = typer.Option("auto", "--device", help="auto (the accelerator the run trained on, when present), "
                                                           "cpu, cuda, cuda:N or mps."),
) -> None:
    """Score the best checkpoint on whole images of the test split."""
    _console()
    result = api.evaluate(run, data=data, split=split, device=device)
    if as_json:
        _print_json(result)
        return
    if result.get("task") == "denoise":
        print_denoise_evaluation(result)
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
    device: str = typer.Option("auto", "--device", help="auto (the accelerator the run trained on, when present), "
                                                           "cpu, cuda, cuda:N or mps."),
) -> None:
    """Write RUN/report.html: data, plan, curves, results, findings and provenance in one self-contained page."""
    _console()
    path = api.report(run, device=device)
    logger.info(f"report written to {path} (figures also in {path.parent / 'plots'})")


@app.command()
def predict(
    run: Path = typer.Argument(..., metavar="RUN", help="Run folder written by 'segtrain train'."),
    inputs: List[Path] = typer.Argument(..., metavar="IMAGES", help="Image files or folders of images, of any size."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the predicted masks."),
    probabilities: bool = typer.Option(False, "--probabilities", help="Also write <stem>_prob.tif per image."),
    as_input_range: bool = typer.Option(False, "--as-input-range", help="Denoising runs: write the input's 8/16-bit "
                                                                       "type instead of float32."),
    nan_as: Optional[float] = flag("nan_as"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout: the masks written."),
    device: str = typer.Option("auto", "--device", help="auto (the accelerator the run trained on, when present), "
                                                           "cpu, cuda, cuda:N or mps."),
) -> None:
    """Predict masks for new images by tiled inference."""
    _console()
    written = api.predict(run, inputs, out, probabilities=probabilities, nan_as=nan_as, device=device,
                          as_input_range=as_input_range)
    logger.info(f"wrote {len(written)} {'denoised image(s)' if api.is_denoise_run(run) else 'mask(s)'} to {out}")
    if as_json:
        _print_json({"out": str(out), "masks": [str(p) for p in written]})


@app.command()
def export(
    run: Path = typer.Argument(..., metavar="RUN", help="Run folder written by 'segtrain train'."),
    fmt: str = typer.Option("onnx", "--format", help="onnx, torchscript or bioimageio (a bioimage.io model package; "
                                                      "needs the bioimageio extra)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="File to write (default RUN/model.onnx or RUN/model.pt)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Write the network as ONNX or TorchScript, with its metadata, checked against PyTorch first."""
    _console()
    result = api.export(run, format=fmt, out=out)
    if as_json:
        _print_json(result)
        return
    logger.info(f"wrote {result['path']} and {result['metadata']}")


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Folder for the data and the run."),
    budget: str = typer.Option("2m30s", "--budget", help="Training budget, e.g. 90s, 3m."),
    n: int = typer.Option(200, "--n", help="Number of synthetic scenes."),
) -> None:
    """Synthesise horizon scenes, train, evaluate on the test split, and say where everything is."""
    _console()
    result = api.demo(out, budget=budget, n=n)
    print_summary(result["train"])
    logger.info(
        f"demo finished in {format_seconds(result['seconds'])}; data in {result['data']}, "
        f"scores in {Path(result['run']) / 'evaluation.json'}, report in {Path(result['run']) / 'report.html'}\n"
        f"next: segtrain predict {result['run']} IMAGE --out predictions/"
    )


def main() -> None:
    """Console entry point; the exit codes are :func:`segtrain.cli.exits.run`'s."""
    run(app)


if __name__ == "__main__":
    main()
