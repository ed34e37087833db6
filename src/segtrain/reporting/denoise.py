"""``report.html`` of a denoising (Noise2Void) run: plan, loss curves, scores against clean images, crops.

Built from the run folder alone, like the segmentation report, with the same HTML pieces
(:mod:`segtrain.reporting._html`). Without clean images the page says why the validation loss is
no quality score and shows before/after crops of validation images only.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from segtrain.config import load_config
from segtrain.config.io import read_run_split
from segtrain.data.denoise import discover_noisy
from segtrain.data.readers import read_image
from segtrain.inference.denoise import Denoiser
from segtrain.reporting._figure import new_figure, read_columns, save
from segtrain.reporting._html import Raw, image, note, para, section, table
from segtrain.reporting._html import page as html_page
from segtrain.runtime.rundir import RunDir, atomic_write_text

CROP = 96
LOSS_NOTE = ("The Noise2Void loss compares the output with the noisy value at each blind spot. Its floor is the "
             "noise variance (in normalised units), so a lower validation loss says training still helps, not how "
             "close the output is to the clean signal: only PSNR/SSIM against clean images measure that.")


def _json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _plan_section(plan: dict) -> Raw:
    names = ("patch_size", "patches", "batch_size", "steps_per_epoch", "epochs", "total_steps", "samples_seen",
             "lr", "optimizer", "schedule", "budget_s", "step_seconds", "n2v_share", "device")
    reasons = plan.get("reasons", {})
    rows = [(n, plan[n], reasons.get(n, "")) for n in names if n in plan]
    return section("plan", "Plan", [para("Every number with its reason; images seen = batch x steps x epochs."),
                                    table(("setting", "value", "reason"), rows, numeric=(1,))])


def _curves(rundir: RunDir) -> list:
    columns = read_columns(rundir.metrics)
    if not columns or "epoch" not in columns:
        return [note("no metrics.csv: the run has not finished an epoch")]
    fig, ax = new_figure(7, 3.5)
    ax.plot(columns["epoch"], columns["train_loss"], label="training (masked MSE)")
    ax.plot(columns["epoch"], columns["val_loss"], label="validation (masked MSE)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    png = save(fig, rundir.plots / "denoise_loss.png")
    return [image(png, "loss curves", "masked MSE at the blind spots, normalised units"), para(LOSS_NOTE)]


def _scores(evaluation: dict) -> list:
    if not evaluation:
        return [note("not evaluated: run 'segtrain evaluate RUN'")]
    if not evaluation.get("scored"):
        return [para(evaluation.get("reason", "not scored"))]
    rows = []
    labels = {"noisy": "noisy input", "gaussian": f"Gaussian filter (sigma {evaluation.get('gaussian_sigma')}, "
              "chosen on validation)", "n2v": "Noise2Void (this run)"}
    for key, label in labels.items():
        if key in evaluation:
            rows.append((label, round(evaluation[key]["psnr"], 2), round(evaluation[key]["ssim"], 4)))
    return [para(f"{evaluation['split']} split, {evaluation['n_scored']} images with clean originals; mean over "
                 f"images; PSNR peak: {evaluation.get('peak_rule', '')}."),
            table(("output", "PSNR (dB)", "SSIM"), rows, numeric=(1, 2)),
            para(f"gain over the noisy input: {evaluation.get('gain_db', float('nan')):.2f} dB")]


def _crops(rundir: RunDir, config, device: str) -> list:
    split = read_run_split(rundir.split)
    stems = (split.get("test") or split.get("val") or [])[:3]
    if not stems or not (rundir.best.exists() or rundir.last.exists()):
        return [note("no checkpoint or no images to show")]
    noisy_set = discover_noisy(config.data.root)
    denoiser = Denoiser.from_checkpoint(rundir.checkpoint(), device)
    with_clean = any(s in noisy_set.clean for s in stems)
    cols = 3 if with_clean else 2
    fig, axes = new_figure(2.4 * cols, 2.4 * len(stems), rows=len(stems), cols=cols)
    axes = np.atleast_2d(axes)
    for row, stem in enumerate(stems):
        noisy = read_image(noisy_set.images[stem]).astype(np.float32)
        h, w = noisy.shape[:2]
        top, left = max(0, (h - CROP) // 2), max(0, (w - CROP) // 2)
        piece = noisy[top:top + CROP, left:left + CROP]
        shown = [("noisy", piece), ("denoised", denoiser.denoise(piece))]
        if with_clean and stem in noisy_set.clean:
            shown.append(("clean", read_image(noisy_set.clean[stem]).astype(np.float32)[top:top + CROP,
                                                                                         left:left + CROP]))
        low, high = np.percentile(piece, (1, 99))
        for col, (title, arr) in enumerate(shown):
            ax = axes[row, col]
            ax.imshow(arr[..., 0] if arr.shape[-1] == 1 else np.clip((arr - low) / (high - low + 1e-9), 0, 1),
                      cmap="gray", vmin=low, vmax=high)
            ax.set_title(f"{stem}: {title}", fontsize=8)
            ax.axis("off")
    png = save(fig, rundir.plots / "denoise_crops.png")
    return [image(png, "before and after", f"central {CROP}x{CROP} crops, same gray scale in each row")]


def build_denoise_report(run: Path | str, device: str = "cpu") -> Path:
    """Write ``RUN/report.html`` for a denoising run; returns its path."""
    rundir = RunDir(Path(run))
    config = load_config(rundir.config)
    plan = _json(rundir.plan)
    evaluation = _json(rundir.evaluation)
    sections = [
        ("plan", "Plan", _plan_section(plan)),
        ("curves", "Training", section("curves", "Training", _curves(rundir))),
        ("scores", "Scores", section("scores", "Scores against clean images", _scores(evaluation))),
        ("crops", "Before / after", section("crops", "Before / after", _crops(rundir, config, device))),
    ]
    header = [para(f"Noise2Void denoising of {config.data.root}")]
    text = html_page(f"segtrain denoising run: {rundir.path.name}", header, sections)
    atomic_write_text(rundir.report, text)
    return rundir.report
