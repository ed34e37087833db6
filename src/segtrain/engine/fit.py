"""Assemble and run one training: module, data, trainer, and what the run says afterwards.

Used by ``segtrain.train`` (a new run) and ``segtrain.train(resume=...)`` (a run continued from
its ``last.ckpt``). Everything a run needs to continue lives in its folder and its checkpoint.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from lightning.pytorch.callbacks import Callback

from segtrain.data.label_mapping import ignore_label
from segtrain.data.labels import LabelSpec
from segtrain.data.loaders.datamodule import SegmentationDataModule, TrainPatches, WholeImages
from segtrain.data.loaders.worker_failures import NamedDataset, explain_loader_error, usable_workers
from segtrain.diagnosis.doctor import diagnose_run
from segtrain.diagnosis.findings import write_findings
from segtrain.engine.callbacks import Interruption
from segtrain.engine.diagnose import EpochDiagnosis
from segtrain.engine.guard import TrainingGuard
from segtrain.engine.module import SegmentationModule
from segtrain.engine.records import EventLog
from segtrain.engine.stops import PLANNED_END, BudgetStop, StepLimitStop, who_stopped
from segtrain.engine.trainer import UserHooks, build_trainer
from segtrain.errors import UserError
from segtrain.evaluation.refine import refine
from segtrain.evaluation.threshold import tune_threshold
from segtrain.inference.checkpoints import load_weights
from segtrain.inference.predictor import load_checkpoint
from segtrain.runtime.ranks import mark_prepared, rank
from segtrain.runtime.record import RunRecord
from segtrain.runtime.rundir import RunDir

logger = logging.getLogger("segtrain")


@dataclass
class TrainResult:
    run: Path
    best_checkpoint: Path
    best_val_dice: float | None
    best_epoch: int | None
    epochs: int
    steps: int
    seconds: float
    stopped_by: str
    findings: list = field(default_factory=list)
    rank_zero: bool = True
    """Whether this process is the one that writes files (always true on one device)."""
    evaluation: dict | None = None
    """The test-split scores, when the run was evaluated at its end."""
    report: Path | None = None
    """``report.html``, when it was written at the end of the run."""
    task: str = "segment"
    """``segment`` or ``denoise`` (a Noise2Void run: ``best_val_loss`` instead of a Dice)."""
    best_val_loss: float | None = None


def resolve_run_config(cfg, report, spec, plan):
    """The config of a run with every planned and discovered value filled in."""
    resolved = cfg.model_copy(deep=True)
    resolved.data.num_classes = int(report.num_classes)
    resolved.data.label_mapping = dict(spec.mapping)
    resolved.data.class_names = list(spec.class_names) if spec.class_names else None
    resolved.data.colour_masks = spec.colour
    resolved.data.multilabel = list(spec.multilabel) if spec.multilabel else None
    for name in ("patch_size", "batch_size", "lr", "precision", "channels_last", "num_workers", "accumulate",
                 "optimizer", "schedule", "loss", "cache_mb", "scale"):
        if name in plan:  # (plans made before the cache or the scale existed have neither)
            setattr(resolved.train, name, plan[name])
    for name in ("stem", "width", "depth"):  # (width and depth are planned only by the budget race)
        if name in plan:
            setattr(resolved.model, name, plan[name])
    if isinstance(plan.get("augment"), dict):
        resolved.augment = cfg.augment.filled(plan["augment"])
    return resolved


def run_record(resolved, report, spec, mode, class_weights, plan) -> RunRecord:
    """The record of a run, saved in every checkpoint (``"segtrain"``): enough to rebuild and continue it,
    and the facts its diagnosis names (batch, workers, width, ...)."""
    return RunRecord.from_config(resolved, plan, in_channels=int(report.channels), num_classes=int(report.num_classes),
                                 mode=mode, class_weights=class_weights, **spec.to_meta())


class _Extension(Callback):
    """Continues a finished run: the schedule re-planned to the new end, early stopping counted afresh."""

    def __init__(self, total_steps: int):
        self.total_steps = total_steps

    def on_train_start(self, trainer, pl_module) -> None:
        pl_module.schedule.replan(trainer.global_step, self.total_steps)
        if trainer.early_stopping_callback is not None:
            trainer.early_stopping_callback.wait_count = 0
            trainer.early_stopping_callback.stopped_epoch = 0


def fit(run, resolved, record: RunRecord, report, samples: dict, split_stems: dict, plan, progress=None,
        resume_from: Path | None = None, extend_to_steps: int | None = None,
        replan_schedule: bool = True, after: bool = True, hooks: UserHooks | None = None) -> TrainResult:
    """Train (or continue from ``resume_from``) and return how it went; writes ``findings.json``. A slice of the
    budget race (:mod:`segtrain.pipeline.race`) keeps its schedule (``replan_schedule``) and skips ``after``."""
    import lightning as L

    train_cfg = resolved.train
    meta = record.to_dict()  # the checkpoint's "segtrain"
    spec = LabelSpec.from_meta(meta)
    train_samples = [samples[s] for s in split_stems["train"]]
    val_samples = [samples[s] for s in split_stems["val"]]
    sizes = [tuple(report.sizes[s.stem]) for s in train_samples]
    accumulate = int(plan.get("accumulate", 1))
    effective = plan["batch_size"] * accumulate

    first = rank() == 0
    L.seed_everything(train_cfg.seed, workers=True, verbose=False)
    module = SegmentationModule(meta)
    _start_from(module, None if resume_from is not None else train_cfg.init_from)  # --init-from: its weights
    workers = _workers(plan["num_workers"], run, first)
    # every loader process of every process on this machine keeps its own cache: share the budget out
    holders = max(1, workers) * train_cfg.devices
    patches = TrainPatches(train_samples, sizes, plan["patch_size"], spec, resolved.augment, ignore_label(resolved.data),
                           cache_bytes=int(plan.get("cache_mb") or 0) * 2**20 // holders,
                           scale=resolved.train.scale or 1.0)
    whole = WholeImages(val_samples, spec)
    root = resolved.data.root
    datamodule = SegmentationDataModule(NamedDataset(patches, patches.files, root=root),
                                        NamedDataset(whole, whole.files, root=root), effective, workers,
                                        train_cfg.seed, plan["steps_per_epoch"] * plan.get("effective_batch", effective))
    events = EventLog(run.events, rank_zero=first)
    guard = TrainingGuard(
        events, train_cfg.max_recoveries, train_cfg.recovery_lr_factor,
        lambda numbers: [str(train_samples[n].image) for n in numbers],
        int(record.num_classes), ignore_label(resolved.data), record.mode, plan["precision"],
    )
    diagnosis = EpochDiagnosis(run.histories, record.diagnosis_facts())
    extra = [diagnosis, interruption := Interruption(run.last, events)]
    if extend_to_steps is not None:
        extra.append(_Extension(extend_to_steps))
    trainer, budget_stop = build_trainer(run, resolved, plan, module.schedule if replan_schedule else None, progress,
                                         guard=guard,
                                         extra_callbacks=extra, hooks=hooks)
    if resume_from is not None and extend_to_steps is not None and budget_stop is not None:
        budget_stop.fresh = True
    if first and train_cfg.devices * train_cfg.num_nodes > 1:
        mark_prepared(run.path)  # the other processes read config, plan and split from here now
    start = time.perf_counter()
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)
    except (KeyboardInterrupt, SystemExit) as exc:  # Lightning turns Ctrl-C into sys.exit(1)
        raise interruption.error(run.path, exc) from None
    except UserError:
        raise
    except Exception as exc:  # a data-loading failure said plainly; anything else is a bug
        explained = explain_loader_error(exc)
        if explained is None:
            raise
        raise explained from None
    seconds = time.perf_counter() - start
    stopped_by = _stop_reason(trainer, guard, events)
    if not trainer.is_global_zero:  # the first process writes the run folder's files
        return TrainResult(run=run.path, best_checkpoint=run.best, best_val_dice=None, best_epoch=None,
                           epochs=trainer.current_epoch, steps=trainer.global_step, seconds=seconds,
                           stopped_by="", rank_zero=False)
    findings = _after_training(run, resolved, spec, record, val_samples, plan, diagnosis) if after else []
    best_score = trainer.checkpoint_callback.best_model_score
    return TrainResult(
        run=run.path,
        best_checkpoint=run.best if run.best.exists() else run.last,
        best_val_dice=None if best_score is None else float(best_score),
        best_epoch=_best_epoch(trainer),
        epochs=trainer.current_epoch,
        steps=trainer.global_step,
        seconds=seconds,
        stopped_by=stopped_by,
        findings=findings,
        rank_zero=trainer.is_global_zero,
    )


def _start_from(module: SegmentationModule, run) -> None:
    """A fine-tuning run's first weights (``--init-from``): the network of ``run``'s best checkpoint, weights only
    (nothing without ``run``)."""
    if not run:
        return
    checkpoint = RunDir.open(run).checkpoint()
    state = load_checkpoint(checkpoint)["state_dict"]
    load_weights(module.model, {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")},
                 checkpoint)
    logger.info(f"starting from the weights of {checkpoint}")


def _after_training(run, resolved, spec, record: RunRecord, val_samples, plan, diagnosis) -> list:
    """Choices made on the validation images with the best weights: the threshold (when asked for),
    then test-time flips and post-processing; then the diagnosis (its findings)."""
    device, mode = _device(plan), record.mode
    if resolved.train.tune_threshold:
        tune_threshold(run, resolved, spec, mode, val_samples, device)
    refine(run, resolved, spec, mode, val_samples, device)
    return _findings(run, record, diagnosis)


def _device(plan) -> str:
    """Where the finished run's validation predictions run: the device it trained on."""
    return "cuda" if plan.get("device") == "cuda" else "cpu"


def _workers(requested: int, run, first: bool = True) -> int:
    """Loader workers that can actually start here; otherwise 0, said and recorded."""
    workers, reason = usable_workers(int(requested or 0))
    if reason:
        logger.warning(f"warning: {reason}")
        EventLog(run.events, rank_zero=first).write({"kind": "workers", "step": 0, "epoch": 0, "reason": reason})
    return workers


def _stop_reason(trainer, guard, events) -> str:
    """Why training ended, from the guard, the stoppers (each records its reason) and early stopping."""
    step, epoch = trainer.global_step, trainer.current_epoch
    if guard.stopped:
        return "repeated non-finite or exploding steps"
    early = trainer.early_stopping_callback
    budget, limit = who_stopped(trainer, BudgetStop), who_stopped(trainer, StepLimitStop)
    if budget is not None:
        reason, detail = budget.reason, budget.detail
    elif early is not None and early.stopped_epoch:
        best = trainer.checkpoint_callback.best_model_score
        best_epoch = _best_epoch(trainer)
        events.write({"kind": "stop", "step": step, "epoch": epoch, "reason": "early_stopping",
                      "detail": f"validation Dice did not improve for {early.patience} validations",
                      "best_epoch": best_epoch, "best_score": None if best is None else float(best),
                      "patience": early.patience, "monitor": early.monitor})
        return "early stopping"
    else:  # max_steps (StepLimitStop) or the planned epochs
        reason, detail = PLANNED_END if limit is None else (limit.reason, limit.detail)
    events.write({"kind": "stop", "step": step, "epoch": epoch, "reason": reason, "detail": detail})
    return reason


def _best_epoch(trainer) -> int | None:
    import torch

    path = trainer.checkpoint_callback.best_model_path
    if not path or not Path(path).exists():
        return None
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True).get("epoch", -1)) + 1
    except Exception:  # noqa: BLE001 - only a detail of a message
        return None


def _findings(run, record: RunRecord, diagnosis: EpochDiagnosis) -> list:
    """Diagnose the finished run from its histories; print what was not said yet; write ``findings.json``.

    A warning printed during training that the whole history no longer shows (validation that swung
    early and then settled) stays in the list as ``info``, so the summary never says "no problems
    found" after a warning."""
    said = diagnosis.said
    findings = diagnose_run(run.histories, record.diagnosis_facts())
    final = {f.code for f in findings}
    findings += [replace(f, severity="info", message=f"during training (epoch {f.epoch}): {f.message}; by the end "
                         "of training it no longer showed") for code, f in diagnosis.shown.items() if code not in final]
    write_findings(run.findings, findings)
    for finding in findings:
        if said.get(finding.code) == finding.severity or finding.code not in final:  # said already
            continue
        if finding.severity in ("warning", "error"):
            logger.warning(finding.format())
        else:
            logger.info(finding.format())
    return findings
