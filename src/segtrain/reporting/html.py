"""The run report: one self-contained HTML file built from a run folder alone.

``build_report(RUN)`` draws every figure into ``RUN/plots/`` and writes ``RUN/report.html``
with them embedded as base64 PNG data URIs, inline CSS, no script and no network reference,
so the file can be mailed or opened on a phone. Sections: data, plan, curves, results,
findings, provenance.

The images themselves (training samples, best and worst test predictions, and the confusion
matrix when ``evaluation.json`` holds none) are read from the dataset folder recorded in
``config.yaml`` and predicted with ``checkpoints/best.ckpt``; when the folder is gone those
figures are left out with a note. The output depends only on the run folder, the dataset
and the installed packages: it holds no build time and no path of the run folder, so
rebuilding (also from a copy) gives the same bytes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from segtrain.data.label_mapping import ignore_label
from segtrain.data.labels import LabelSpec
from segtrain.data.layouts import LayoutOptions
from segtrain.data.windows import is_large
from segtrain.errors import UserError
from segtrain.inference.predictor import Predictor, load_checkpoint
from segtrain.reporting import _sections as sections
from segtrain.reporting._html import fmt, page, para
from segtrain.reporting._run import RunFiles
from segtrain.reporting.overlays import best_and_worst, plot_prediction_overlays, plot_sample_overlays
from segtrain.reporting.plots import (
    per_image_dice,
    plot_class_shares,
    plot_confusion,
    plot_dice_histogram,
    plot_grad_norms,
    plot_losses,
    plot_lr,
    plot_lr_find,
    plot_steps,
    plot_val_metrics,
    read_confusion,
)
from segtrain.reporting.race_plot import plot_race
from segtrain.reporting.predictions import dataset_samples, predict_samples, read_example
from segtrain.reporting.provenance import data_listing, package_versions, sha256_file
from segtrain.runtime.outputs import guard_output
from segtrain.runtime.rundir import atomic_write_text

EXAMPLES_PER_END = 2
"""Test images drawn at each end of the per-image Dice ranking (best 2, worst 2)."""
TRAINING_SAMPLES = 4
"""Training samples drawn in the data section (the first ones of the split)."""

PLOT_NAMES = ("class_shares", "samples", "losses", "val_metrics", "lr", "steps", "lr_find", "grad_norms", "confusion",
              "dice_hist", "best", "worst", "race")
"""Figures of the report, saved as ``RUN/plots/<name>.png``."""


def _draw_curves(ctx: sections.Context, plots: Path) -> None:
    run = ctx.run
    figures = ctx.figures
    files = run.folder
    figures["losses"] = plot_losses(files.metrics, plots / "losses.png")
    figures["val_metrics"] = plot_val_metrics(files.metrics, plots / "val_metrics.png", run.class_names)
    figures["lr"] = plot_lr(files.steps, plots / "lr.png")
    figures["steps"] = plot_steps(files.steps, plots / "steps.png") if figures["lr"] else None
    figures["lr_find"] = plot_lr_find(files.lr_find_csv, files.plan, plots / "lr_find.png")
    figures["grad_norms"] = plot_grad_norms(files.grads, plots / "grad_norms.png")
    figures["dice_hist"] = plot_dice_histogram(files.evaluation, plots / "dice_hist.png")
    figures["race"] = plot_race(files.race, plots / "race.png")
    ctx.notes.update({
        "losses": "no losses recorded (metrics.csv missing or empty)",
        "val_metrics": "no validation scores recorded (metrics.csv missing or empty)",
        "lr": "no steps recorded (steps.csv missing or empty)",
        "steps": "no steps recorded (steps.csv missing or empty)",
        "lr_find": "no range test in this run (no lr_find.csv): the learning rate was given or came from a plan file",
        "grad_norms": "no gradient norms recorded (grads.csv missing or empty)",
        "dice_hist": "no per-image test scores (run 'segtrain evaluate RUN')",
        "race": "no validation scores recorded in race.json",
    })


def _draw_images(ctx: sections.Context, plots: Path) -> None:
    """Training samples, best/worst test predictions and (when needed) the confusion matrix."""
    run = ctx.run
    gone = f"the dataset folder {run.data_root} is gone or unreadable: figure left out"
    samples = dataset_samples(run.data_root, LayoutOptions.from_config(run.section("data")))
    ctx.data_found = bool(samples)
    predictor = None
    if run.checkpoint.is_file():
        checkpoint = load_checkpoint(run.checkpoint)
        ctx.checkpoint_meta = dict(checkpoint["segtrain"])
        ctx.lightning_recorded = checkpoint.get("pytorch-lightning_version")
        if samples:
            predictor = Predictor(checkpoint, device=ctx.device)
        del checkpoint
    drawable = {stem: sample for stem, sample in samples.items() if not is_large(sample)}  # in memory at once
    if samples:
        spec = LabelSpec.from_meta(ctx.checkpoint_meta or run.section("data"))
        stems = [s for s in run.stems("train") if s in drawable][:TRAINING_SAMPLES]
        ctx.figures["samples"] = plot_sample_overlays([read_example(drawable[s], spec) for s in stems],
                                                      plots / "samples.png", run.overlay_names)
    ctx.notes["samples"] = gone if not samples else "no training samples listed in split.json"

    confusion = read_confusion(run.folder.evaluation)
    if confusion is not None:
        ctx.confusion_source = "from evaluation.json"
    test = run.stems("test")
    dice = per_image_dice(run.evaluation)
    best, worst = best_and_worst([(s, d) for s, d in dice if s in drawable], EXAMPLES_PER_END)
    missing = [s for s in test if s not in samples]
    if predictor is not None and test and not missing:
        # every test image when the confusion matrix must be counted here, else only the examples drawn
        stems = [s for s in test if s in drawable] if confusion is None else best + worst
        result = predict_samples(predictor, [drawable[s] for s in stems], keep=best + worst, dice=dict(dice))
        if confusion is None and len(stems) == len(test):
            confusion = result.confusion
            ctx.confusion_source = f"pixels of the {len(test)} test images, predicted with best.ckpt"
        ignore = ignore_label(predictor.config.data)
        for key, chosen, title in (("best", best, "highest"), ("worst", worst, "lowest")):
            ctx.figures[key] = plot_prediction_overlays(
                [result.examples[s] for s in chosen], plots / f"{key}.png", run.overlay_names,
                f"test images with the {title} Dice", ignore)
    reason = ("no best.ckpt" if not run.checkpoint.is_file() else gone if not samples
              else f"{len(missing)} test image(s) missing from the dataset folder (e.g. {missing[0]})" if missing
              else "no test split" if not test else "")
    for key in ("best", "worst"):
        ctx.notes[key] = reason or "no per-image test scores (run 'segtrain evaluate RUN')"
    ctx.notes["confusion"] = reason or "no confusion matrix"
    ctx.confusion = confusion
    names = run.class_names
    ctx.figures["confusion"] = plot_confusion(confusion, plots / "confusion.png", names)
    ctx.figures["class_shares"] = plot_class_shares(run.folder.plan, plots / "class_shares.png", names,
                                                    confusion)
    ctx.notes["class_shares"] = "plan.json holds no class shares"


def build_report(run: Path | str, device: str = "cpu") -> Path:
    """Write ``RUN/report.html`` (and every figure as ``RUN/plots/<name>.png``) from a run folder.

    Parameters
    ----------
    run : Path or str
        A run folder written by ``segtrain train`` (``evaluate`` and ``doctor`` add the test
        scores and the findings; any missing file leaves its part out with a note).

    Returns
    -------
    Path
        The report file.

    Raises
    ------
    segtrain.errors.UserError
        If ``run`` is not a folder.
    """
    run = Path(run)
    if not run.is_dir():
        raise UserError(f"{run}: not a folder; pass the --out folder of a 'segtrain train'")
    files = RunFiles.load(run)
    if files.data_root is not None:  # the report goes into the run folder: never into the dataset it reads
        guard_output(run, kind="shared", datasets=[files.data_root], names=[], flag="RUN")
    plots = Path(tempfile.mkdtemp(prefix=".plots.", dir=run))  # moved into place once the page stands
    try:
        text = _page(files, plots, device)
        _replace_folder(files.folder.plots, plots)
    except BaseException:
        shutil.rmtree(plots, ignore_errors=True)
        raise
    out = files.folder.report
    atomic_write_text(out, text)
    return out


def _replace_folder(target: Path, new: Path) -> None:
    """Put the folder ``new`` where ``target`` is, removing what was there (a link itself, not what it names)."""
    if os.path.lexists(target):
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
        os.replace(target, old / target.name)
        os.replace(new, target)
        moved = old / target.name
        if moved.is_symlink() or not moved.is_dir():
            moved.unlink()
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, target)


def _page(files: RunFiles, plots: Path, device: str = "cpu") -> str:
    """Every figure drawn into ``plots`` and the report's HTML."""
    run = files.folder.path
    ctx = sections.Context(files, versions=package_versions(), device=device)
    _draw_curves(ctx, plots)
    _draw_images(ctx, plots)
    root = files.data_root
    ctx.listing = data_listing(root, exclude=[run]) if root is not None else None
    ctx.checkpoint_sha256 = sha256_file(files.checkpoint) if files.checkpoint.is_file() else None
    headline = (files.evaluation or {}).get("headline") or {}
    header = [para(f"Test {headline.get('name', 'score')}: {fmt(headline.get('value'))}") if headline else
              para("Not evaluated yet: run 'segtrain evaluate RUN' for the test scores.")]
    body = [("data", "Data", sections.data(ctx)), ("plan", "Plan", sections.plan(ctx)),
            ("curves", "Curves", sections.curves(ctx)), ("results", "Results", sections.results(ctx)),
            ("findings", "Findings", sections.findings(ctx)), ("provenance", "Provenance", sections.provenance(ctx))]
    return page("segtrain run report", header, body)
