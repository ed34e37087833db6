"""Build the Lightning Trainer of a run from its config and plan."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, TQDMProgressBar

from segtrain.config.schema import SegtrainConfig
from segtrain.engine.loggers import experiment_logger
from segtrain.engine.callbacks import AtomicCheckpointIO, EpochLog, StepLog
from segtrain._text import format_seconds
from segtrain.engine.records import GradLog
from segtrain.engine.replan import ScheduleReplan
from segtrain.engine.resume import PeriodicCheckpoint, ResumeState
from segtrain.engine.stops import BudgetStop, StepLimitStop
from segtrain.planning.plan import TrainingPlan
from segtrain.runtime.rundir import RunDir

MONITOR = "val/dice"


@dataclass(frozen=True)
class UserHooks:
    """A user's own Lightning loggers and callbacks (``segtrain.train(loggers=..., callbacks=...)``), added to
    segtrain's: its CSV histories are written all the same and stay what ``doctor`` and the report read."""

    loggers: tuple = ()
    callbacks: tuple = ()


class _ProgressBar(TQDMProgressBar):
    """Lightning's bar, one per epoch, counting epochs from 1 like the epoch lines and metrics.csv.

    Besides the epoch's own progress and time left (tqdm's), it shows the last step's loss, the
    latest validation Dice and the time left in the whole run: the budget left, or the remaining
    steps at the pace so far.
    """

    _start, _first_step = 0.0, 0

    @property
    def validation_description(self) -> str:
        return "validating"

    def on_train_start(self, trainer, *args) -> None:
        super().on_train_start(trainer, *args)
        self._start, self._first_step = time.perf_counter(), trainer.global_step

    def on_train_epoch_start(self, trainer, *args) -> None:
        super().on_train_epoch_start(trainer, *args)
        total = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        self.train_progress_bar.set_description(f"epoch {trainer.current_epoch + 1}{total}")

    def get_metrics(self, trainer, pl_module) -> dict:
        shown = trainer.progress_bar_metrics
        items = {}
        if "train/loss" in shown:
            items["loss"] = f"{shown['train/loss']:.4f}"
        if "val/dice" in shown:
            items["val dice"] = f"{shown['val/dice']:.4f}"
        left = self._run_left(trainer)
        if left is not None:
            items["run left"] = format_seconds(left)
        return items

    def _run_left(self, trainer) -> float | None:
        elapsed = time.perf_counter() - self._start
        budget = next((c for c in trainer.callbacks if isinstance(c, BudgetStop)), None)
        if budget is not None:
            return max(0.0, budget.budget_s - (time.perf_counter() - budget.start))
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else trainer.estimated_stepping_batches
        done = trainer.global_step - self._first_step
        if done <= 0 or not math.isfinite(total):
            return None
        return elapsed / done * max(0, total - trainer.global_step)


def build_trainer(
    run: RunDir,
    config: SegtrainConfig,
    plan: TrainingPlan,
    schedule=None,
    progress: bool | None = None,
    guard=None,
    extra_callbacks=(),
    hooks: UserHooks | None = None,
) -> tuple[L.Trainer, BudgetStop | None]:
    """A Trainer that validates every epoch, keeps ``best.ckpt`` (by validation Dice) and ``last.ckpt``.

    With a budget, training runs until :class:`BudgetStop` ends it; otherwise for the planned
    epochs (or ``max_steps``). ``last.ckpt`` is also written every ``train.checkpoint_every_s``
    seconds. ``guard`` (a :class:`segtrain.engine.guard.TrainingGuard`) acts on failed steps
    before anything records or saves them. Files are written by rank zero only (Lightning's
    checkpointing and the logs check it). ``hooks``: the user's loggers and callbacks, added last.
    """
    train = config.train
    budget = plan.get("budget_s")
    callbacks = [guard] if guard is not None else []
    callbacks += [
        ModelCheckpoint(  # first: trainer.checkpoint_callback is this one
            dirpath=run.checkpoints,
            filename="best",
            monitor=MONITOR,
            mode="max",
            save_top_k=1,
            auto_insert_metric_name=False,
            enable_version_counter=False,
        ),
        # The weights after every epoch. Not ``save_last=True`` above: since Lightning 2.6 that
        # writes last.ckpt only when the best checkpoint was also written.
        ModelCheckpoint(dirpath=run.checkpoints, filename="last", monitor=None, save_top_k=1,
                        enable_version_counter=False),
        EpochLog(run.metrics, None if budget and train.epochs is None else plan["epochs"], budget,
                 num_classes=config.data.num_classes or 2, device=plan["device"]),
        StepLog(run.steps),
        GradLog(run.grads),
        PeriodicCheckpoint(run.last, train.checkpoint_every_s),
        ResumeState(),
        *extra_callbacks,
    ]
    stoppers, budget_stop = _stoppers(train, plan, schedule)
    callbacks += stoppers
    if progress is None:
        progress = sys.stderr.isatty()
    if progress:
        callbacks.append(_ProgressBar(refresh_rate=1))
    until_budget = budget is not None and train.epochs is None and train.max_steps is None
    processes = train.devices * train.num_nodes
    loggers = _loggers(run, train, hooks or UserHooks(), callbacks)
    return (
        L.Trainer(
            accelerator=plan["device"] if train.accelerator == "auto" else train.accelerator,
            devices=train.devices,
            num_nodes=train.num_nodes,
            strategy=_strategy(train),
            sync_batchnorm=processes > 1 and config.model.norm == "batch",  # batch statistics of the global batch
            use_distributed_sampler=False,  # the loaders shard the seeded stream themselves
            precision=plan["precision"],
            max_epochs=-1 if until_budget else plan["epochs"],
            max_steps=train.max_steps or -1,
            deterministic=train.deterministic or None,
            callbacks=callbacks,
            plugins=[AtomicCheckpointIO()],
            logger=loggers or False,
            enable_model_summary=False,
            enable_progress_bar=progress,
            num_sanity_val_steps=0,
            default_root_dir=run.path,
            log_every_n_steps=1,
            check_val_every_n_epoch=1,
        ),
        budget_stop,
    )


def _loggers(run: RunDir, train, hooks: UserHooks, callbacks: list) -> list:
    """The experiment logger of ``train.logger`` and the user's, with a rate monitor when there is any; the
    user's callbacks are appended to ``callbacks``."""
    own = experiment_logger(run, train.logger)
    loggers = [*([own] if own is not None else []), *hooks.loggers]
    if loggers:
        from lightning.pytorch.callbacks import LearningRateMonitor

        callbacks.append(LearningRateMonitor(logging_interval="step"))
    callbacks += list(hooks.callbacks)
    return loggers


def _stoppers(train, plan: TrainingPlan, schedule) -> tuple[list, BudgetStop | None]:
    """The callbacks that end training, and the budget's stopper (the run's budget clock) if there is a budget.

    With a budget: :class:`BudgetStop` and, after it, the :class:`ScheduleReplan` that reads its
    clock. Then :class:`StepLimitStop` for ``max_steps`` and early stopping, when asked for.
    """
    callbacks, budget_stop = [], None
    budget = plan.get("budget_s")
    if budget is not None:
        budget_stop = BudgetStop(budget, plan.get("validation_seconds", 0.0))
        callbacks += [budget_stop, ScheduleReplan(budget_stop, schedule)]
    if train.max_steps:
        callbacks.append(StepLimitStop(train.max_steps))
    if train.early_stop_patience:
        callbacks.append(EarlyStopping(MONITOR, mode="max", patience=train.early_stop_patience, check_finite=False,
                                       check_on_train_epoch_end=False))  # only after validations, not a cut epoch
    return callbacks, budget_stop


def _strategy(train) -> str:
    """Lightning's strategy name: ``auto`` for one process, else ``ddp`` (or the one asked for)."""
    if train.devices * train.num_nodes == 1:
        return "auto"
    return "ddp" if train.strategy == "auto" else train.strategy
