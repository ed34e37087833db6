"""The table printed after training: how the run ended, its best epoch, its scores, where it is."""

from __future__ import annotations

import logging
import sys

from segtrain._text import format_seconds

logger = logging.getLogger("segtrain")

_CLASS_COLUMNS = ("iou", "dice", "precision", "recall")


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def summary_tables(result) -> list:
    """Rich tables for a :class:`segtrain.engine.fit.TrainResult`: the run, then test scores per class."""
    from rich import box
    from rich.table import Table

    run = Table(box=None, show_header=False, title="run summary", title_justify="left", title_style="bold",
                padding=(0, 2), pad_edge=False)
    run.add_column(style="bold")
    run.add_column()
    run.add_row("trained", f"{result.epochs} epochs, {result.steps} steps in {format_seconds(result.seconds)}")
    run.add_row("stopped by", result.stopped_by)
    if getattr(result, "task", "segment") == "denoise":
        return [_denoise_rows(run, result)]
    best = "n/a" if result.best_epoch is None else f"epoch {result.best_epoch}"
    run.add_row("best", f"{best}, validation Dice {_number(result.best_val_dice)}")
    evaluation = result.evaluation
    if evaluation is not None:
        run.add_row(f"test ({evaluation['n_images']} images)",
                    f"Dice {_number(evaluation['dice'])}, IoU {_number(evaluation['iou'])}, "
                    f"pixel accuracy {_number(evaluation['pixel_accuracy'])}")
    run.add_row("run folder", str(result.run))
    run.add_row("checkpoint", str(result.best_checkpoint))
    if result.report is not None:
        run.add_row("report", str(result.report))
    problems = [f for f in result.findings if f.severity in ("warning", "error")]
    passed = [f.code for f in result.findings if f.severity == "info" and f.message.startswith("during training")]
    if problems:
        said = f"{len(problems)} above; details: segtrain doctor {result.run}"
    elif passed:
        said = f"warned during training ({', '.join(passed)}), no longer by the end; segtrain doctor {result.run}"
    else:
        said = f"no problems found; segtrain doctor {result.run} tells more"
    run.add_row("findings", said)
    tables = [run]
    if evaluation is not None:
        classes = Table(box=box.SIMPLE_HEAD, title="test split, per class (pooled over pixels)",
                        title_justify="left", title_style="bold", pad_edge=False, padding=(0, 2))
        classes.add_column("class")
        for name in _CLASS_COLUMNS:
            classes.add_column(name, justify="right")
        for row in evaluation["per_class"]:
            classes.add_row(str(row["name"]), *(_number(row.get(name)) for name in _CLASS_COLUMNS))
        tables.append(classes)
    return tables


def _denoise_rows(run, result):
    """The rest of a denoising run's summary: its best validation loss, its test PSNR next to the baselines."""
    best = "n/a" if result.best_epoch is None else f"epoch {result.best_epoch}"
    run.add_row("best", f"{best}, validation masked loss {_number(result.best_val_loss)} (no quality score)")
    evaluation = result.evaluation or {}
    if evaluation.get("scored"):
        cells = [f"{label} {evaluation[key]['psnr']:.2f} dB" for key, label in
                 (("noisy", "noisy"), ("gaussian", "gaussian"), ("n2v", "noise2void")) if key in evaluation]
        run.add_row(f"test PSNR ({evaluation['n_scored']} images)", ", ".join(cells))
    elif evaluation:
        run.add_row("test", "not scored: no clean images")
    run.add_row("run folder", str(result.run))
    run.add_row("checkpoint", str(result.best_checkpoint))
    if result.report is not None:
        run.add_row("report", str(result.report))
    return run


def print_summary(result) -> None:
    """Print the summary on stderr, beside the progress messages; nothing under ``--quiet``."""
    if not logger.isEnabledFor(logging.INFO):
        return
    from rich.console import Console

    terminal = sys.stderr.isatty()
    # not a terminal (a log file, a pipe): no width to fit, so paths stay whole on one line
    console = Console(highlight=False, width=None if terminal else 1000, force_terminal=terminal)
    with console.capture() as captured:
        for table in summary_tables(result):
            console.print(table)
    sys.stderr.write("\n".join(line.rstrip() for line in captured.get().splitlines()) + "\n")


def print_denoise_evaluation(result: dict) -> None:
    """What ``evaluate`` prints for a denoising run: PSNR and SSIM of the noisy input, the filter, the network."""
    if not result.get("scored"):
        logger.info(f"{result['split']} split, {result['n_images']} images: {result['reason']}")
        return
    logger.info(f"{result['split']} split, {result['n_scored']} images with clean originals (mean over images):")
    for key, label in (("noisy", "noisy input"), ("gaussian", f"gaussian sigma {result.get('gaussian_sigma')}"),
                       ("n2v", "noise2void")):
        if key in result:
            logger.info(f"  {label:<20} PSNR {result[key]['psnr']:.2f} dB  SSIM {result[key]['ssim']:.4f}")
