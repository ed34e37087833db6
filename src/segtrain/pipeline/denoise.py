"""The verbs on a denoising (Noise2Void) run: train, resume, finish (scores and report), doctor.

``train DATA --task denoise`` takes this path instead of the segmentation one: the dataset is
``DATA/images/`` alone (``DATA/clean/`` optional, for scores), the split, run folder, plan record,
budget, checkpoints and ``metrics.csv`` are the segmentation run's; the plan is
:mod:`segtrain.planning.denoise`'s and the training :mod:`segtrain.engine.denoise`'s.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from pathlib import Path

from segtrain.config import SegtrainConfig, load_config, save_config
from segtrain.config.io import read_run_split
from segtrain.data.denoise import channel_stats, discover_noisy
from segtrain.data.split import resolve_split
from segtrain.engine.denoise import fit_denoise
from segtrain.engine.fit import TrainResult
from segtrain.errors import UserError
from segtrain.evaluation.denoise import evaluate_denoise
from segtrain.inference.devices import resolve_device
from segtrain.inference.predictor import load_checkpoint
from segtrain.pipeline.options import BY_NAME
from segtrain.planning.denoise import plan_denoise
from segtrain.planning.plan import TrainingPlan
from segtrain.reporting.denoise import build_denoise_report
from segtrain.runtime.env import detect_machine
from segtrain.runtime.log import quiet_libraries
from segtrain.runtime.rundir import RunDir, write_json

logger = logging.getLogger("segtrain")

SEGMENT_ONLY = ("num_classes", "class_weights", "loss", "threshold", "tune_threshold", "tta", "postprocess",
                "scale", "accumulate", "init_from", "compile", "cache_mb", "race", "race_share", "ignore_index")
"""Options that mean nothing to a denoising run: refused by name rather than ignored."""


def is_denoise_config(cfg: SegtrainConfig) -> bool:
    return cfg.train.task == "denoise"


def refuse_segment_options(options: dict) -> None:
    """A segmentation-only option given with ``--task denoise``: one line naming its flag."""
    given = [name for name in SEGMENT_ONLY if options.get(name) not in (None, False)]
    if given:
        raise UserError(f"{BY_NAME[given[0]].flag} with --task denoise: a segmentation option; leave it out")


def _prepare(data: Path, cfg: SegtrainConfig):
    noisy = discover_noisy(data)
    split, source = resolve_split(sorted(noisy.images), data, cfg.data.split_file, cfg.data.val_fraction,
                                  cfg.data.test_fraction, cfg.train.seed)
    if not split["train"] or not split["val"]:
        raise UserError(f"{data}: the split leaves no training or no validation image; add images or a split.json")
    logger.info(f"split: {source}: {len(split['train'])} train, {len(split['val'])} val, {len(split['test'])} test"
                f"; clean images for {len(noisy.clean)} of {len(noisy.images)}")
    return noisy, split


def _meta(cfg: SegtrainConfig, noisy, plan: TrainingPlan, mean, std) -> dict:
    return {"task": "denoise", "config": cfg.model_dump(mode="json"), "in_channels": noisy.channels,
            "num_classes": noisy.channels, "mode": "multiclass", "mean": mean, "std": std,
            "patch_size": plan["patch_size"], "lr": plan["lr"], "total_steps": plan["total_steps"],
            "warmup_steps": plan["warmup_steps"], "dtype": noisy.dtype}


def _resolved(cfg: SegtrainConfig, plan: TrainingPlan) -> SegtrainConfig:
    resolved = cfg.model_copy(deep=True)
    for name in ("patch_size", "batch_size", "lr", "optimizer", "schedule", "steps_per_epoch", "n2v_share",
                 "precision"):
        setattr(resolved.train, name, plan[name])
    resolved.train.lr_find = False
    return resolved


def train_denoise(data, out, cfg: SegtrainConfig, overwrite: bool, progress, verbose: bool,
                  step_s: float | None = None) -> TrainResult:
    """Plan and train a Noise2Void run into the new run folder ``out`` (nothing written before the plan)."""
    data = Path(data)
    noisy, split = _prepare(data, cfg)
    quiet_libraries(verbose)
    mean, std = channel_stats([noisy.images[s] for s in split["train"]])
    machine = detect_machine(cfg.train.accelerator)
    plan = plan_denoise(cfg, [noisy.sizes[s] for s in split["train"]], [noisy.sizes[s] for s in split["val"]],
                        noisy.channels, machine.accelerator, step_s, bf16=machine.bf16)
    plan.set("normalisation", {"mean": [round(m, 4) for m in mean], "std": [round(s, 4) for s in std]},
             "per-channel mean and std of the training images; outputs are de-normalised with them")
    run = RunDir.create(out, overwrite=overwrite)
    run.record_command()
    write_json(run.split, split)
    write_json(run.plan, plan.to_dict())
    resolved = _resolved(cfg, plan)
    save_config(resolved, run.config)
    logger.info(plan.format())
    meta = _meta(resolved, noisy, plan, mean, std)
    return _fit(run, meta, noisy, split, plan.to_dict(), progress)


def _fit(run: RunDir, meta, noisy, split, plan: dict, progress, resume_from=None) -> TrainResult:
    paths = {part: [noisy.images[s] for s in split[part]] for part in ("train", "val")}
    outcome = fit_denoise(run, meta, paths, plan, progress, resume_from=resume_from)
    best = run.best if run.best.exists() else run.last
    return TrainResult(run=run.path, best_checkpoint=best, best_val_dice=None, best_epoch=_best_epoch(run),
                       epochs=outcome["epochs"], steps=outcome["steps"], seconds=outcome["seconds"],
                       stopped_by=outcome["stopped_by"], task="denoise", best_val_loss=outcome["best_val_loss"])


def _best_epoch(run: RunDir) -> int | None:
    try:
        return int(load_checkpoint(run.best).get("epoch", -1)) + 1
    except (UserError, OSError):
        return None


def resume_denoise(run, options: dict, progress, verbose: bool) -> TrainResult:
    """Continue a killed denoising run from its ``last.ckpt``; a finished one is refused in one line."""
    rundir = RunDir.open_for_resume(run)
    if any(options.get(k) is not None for k in ("epochs", "budget", "max_steps")):
        raise UserError("--epochs/--budget/--max-steps with --resume: extending a denoising run is not supported "
                        "yet; start a new run with --out")
    cfg = load_config(rundir.config)
    plan = json.loads(rundir.plan.read_text())
    split = read_run_split(rundir.split)
    noisy = discover_noisy(cfg.data.root)
    missing = [s for part in ("train", "val") for s in split[part] if s not in noisy.images]
    if missing:
        raise UserError(f"{cfg.data.root}: {len(missing)} image(s) of the run are missing (e.g. {missing[0]}); "
                        "restore them to resume")
    quiet_libraries(verbose)
    if rundir.last.exists():
        checkpoint = load_checkpoint(rundir.last)
        meta, step = checkpoint["segtrain"], int(checkpoint.get("global_step", 0))
        if step >= int(plan["total_steps"]) or rundir.evaluation.exists():
            raise UserError(f"{rundir.path}: the run has finished ({step} steps); start a new run to train longer")
    else:
        mean, std = channel_stats([noisy.images[s] for s in split["train"]])
        meta = _meta(cfg, noisy, TrainingPlan.from_dict(plan), mean, std)
    rundir.record_command()
    return _fit(rundir, meta, noisy, split, plan, progress,
                resume_from=rundir.last if rundir.last.exists() else None)


def finish_denoise(result: TrainResult) -> TrainResult:
    """Score the best checkpoint on the test split (against clean images, where they exist) and write the report."""
    folder = RunDir(result.run)
    stems = read_run_split(folder.split)
    plan = _plan_json(folder)
    device = resolve_device("auto", plan.get("device"))
    if stems.get("test") and Path(result.best_checkpoint).exists():
        result.evaluation = evaluate_denoise(result.run, device=device)
    result.report = build_denoise_report(Path(result.run), device=device)
    return result


def _plan_json(folder: RunDir) -> dict:
    try:
        return json.loads(folder.plan.read_text())
    except (OSError, ValueError):
        return {}


def doctor_denoise(run: Path | str) -> dict:
    """What a denoising run's ``metrics.csv`` says: still improving, over-fitting, or settled."""
    rundir = RunDir(Path(run))
    try:
        rows = list(csv.DictReader(rundir.metrics.open()))
    except OSError:
        raise UserError(f"{rundir.metrics}: missing; pass the --out folder of a 'segtrain train'") from None
    val = [float(r["val_loss"]) for r in rows if r.get("val_loss") not in (None, "", "nan")]
    train = [float(r["train_loss"]) for r in rows if r.get("train_loss") not in (None, "", "nan")]
    findings = []
    if len(val) >= 2 and not all(math.isfinite(v) for v in val):
        findings.append({"code": "nonfinite", "severity": "error", "message": "the validation loss was not finite"})
    elif len(val) >= 3:
        best = min(range(len(val)), key=val.__getitem__)
        if best == len(val) - 1:
            findings.append({"code": "still_improving", "severity": "info", "message":
                             f"the validation loss fell until the last epoch ({val[0]:.4g} -> {val[-1]:.4g}): "
                             "a longer --budget would likely denoise better"})
        elif val[-1] > val[best] * 1.05 and len(train) == len(val) and train[-1] < train[best]:
            findings.append({"code": "overfitting", "severity": "warning", "message":
                             f"the validation loss rose from {val[best]:.4g} (epoch {best + 1}) to {val[-1]:.4g} "
                             "while the training loss fell; best.ckpt is the epoch of the lowest"})
    text = "\n".join(f"{f['severity']}: {f['message']}" for f in findings) or \
        f"{len(val)} validations; no problems found in the loss curves"
    text += ("\nnote: the Noise2Void loss compares outputs with noisy values at the blind spots; its floor is the "
             "noise variance, so it is no quality score (evaluation.json has PSNR/SSIM where clean images exist)")
    write_json(rundir.findings, findings)
    return {"run": str(rundir.path), "findings": findings, "text": text}
