"""Callbacks that record and act: the per-epoch log, the wall-clock budget, atomic checkpoints."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.plugins.io import TorchCheckpointIO

from segtrain.runtime.rundir import save_checkpoint_atomic

logger = logging.getLogger("segtrain")

CSV_COLUMNS = ("epoch", "step", "train_loss", "val_loss", "val_dice", "val_iou", "lr", "seconds", "train_seconds")
"""``seconds``: since training started; ``train_seconds``: the part of it not spent validating."""


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to a temporary file and renamed: a crash never leaves a partial file."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        save_checkpoint_atomic(checkpoint, Path(path))


class EpochLog(Callback):
    """One row per epoch in ``metrics.csv`` and one line on the console.

    The training loss of an epoch is the mean over its steps (averaged over DDP ranks).
    """

    def __init__(self, path: Path, max_epochs: int | None = None, budget_s: float | None = None):
        self.path, self.max_epochs, self.budget_s = Path(path), max_epochs, budget_s
        self.start = 0.0
        self.loss_sum, self.loss_count = 0.0, 0
        self.val_started, self.val_seconds = 0.0, 0.0

    def on_validation_start(self, trainer, pl_module) -> None:
        self.val_started = time.perf_counter()

    def on_validation_end(self, trainer, pl_module) -> None:
        self.val_seconds += time.perf_counter() - self.val_started

    def on_fit_start(self, trainer, pl_module) -> None:
        self.start = time.perf_counter()
        if trainer.is_global_zero and not self.path.exists():
            self.path.write_text(",".join(CSV_COLUMNS) + "\n")

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.loss_sum, self.loss_count = 0.0, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None:
            self.loss_sum += float(loss)
            self.loss_count += 1

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        mean = self.loss_sum / self.loss_count if self.loss_count else math.nan
        train_loss = float(trainer.strategy.reduce(torch.tensor(mean), reduce_op="mean"))
        metrics = trainer.callback_metrics
        seconds = time.perf_counter() - self.start
        row = {
            "epoch": trainer.current_epoch + 1,
            "step": trainer.global_step,
            "train_loss": train_loss,
            "val_loss": float(metrics.get("val/loss", math.nan)),
            "val_dice": float(metrics.get("val/dice", math.nan)),
            "val_iou": float(metrics.get("val/iou", math.nan)),
            "lr": trainer.optimizers[0].param_groups[0]["lr"],
            "seconds": seconds,
            "train_seconds": seconds - self.val_seconds,
        }
        if not trainer.is_global_zero:
            return
        with self.path.open("a") as handle:
            handle.write(",".join(f"{row[c]:.6g}" if isinstance(row[c], float) else str(row[c]) for c in CSV_COLUMNS) + "\n")
        epochs = f"/{self.max_epochs}" if self.max_epochs and self.max_epochs > 0 else ""
        eta = ""
        if self.budget_s:
            eta = f"  budget left {format_seconds(self.budget_s - seconds)}"
        elif self.max_epochs and self.max_epochs > 0:
            eta = f"  eta {format_seconds(seconds / row['epoch'] * (self.max_epochs - row['epoch']))}"
        message = (
            f"epoch {row['epoch']}{epochs}  step {row['step']}  train loss {train_loss:.4f}  "
            f"val loss {row['val_loss']:.4f}  val dice {row['val_dice']:.4f}  lr {row['lr']:.2e}  "
            f"{format_seconds(seconds)}{eta}"
        )
        bar = trainer.progress_bar_callback
        if bar is not None and hasattr(bar, "print") and trainer.progress_bar_callback.is_enabled:
            bar.print(message)
        else:
            logger.info(message)


class StepLog(Callback):
    """``steps.csv``: the learning rate and training loss of every weight update; plotted at the end.

    The rate recorded is the one the optimizer used for that update (read before the step).
    With gradient accumulation, the loss is the last micro-batch's.
    """

    def __init__(self, path: Path, plot: Path | None = None):
        self.path, self.plot = Path(path), plot
        self.rows: list[tuple[int, int, float, float]] = []
        self.lr = math.nan

    def on_fit_start(self, trainer, pl_module) -> None:
        if trainer.is_global_zero and not self.path.exists():
            self.path.write_text("step,epoch,lr,loss\n")

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.lr = trainer.optimizers[0].param_groups[0]["lr"]
        self.step_before = trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if trainer.global_step > self.step_before and loss is not None:
            self.rows.append((trainer.global_step, trainer.current_epoch + 1, self.lr, float(loss)))

    def _flush(self, trainer) -> None:
        if trainer.is_global_zero and self.rows:
            with self.path.open("a") as handle:
                handle.writelines(f"{s},{e},{lr:.6g},{loss:.6g}\n" for s, e, lr, loss in self.rows)
        self.rows = []

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._flush(trainer)

    def on_fit_end(self, trainer, pl_module) -> None:
        self._flush(trainer)
        if trainer.is_global_zero and self.plot is not None:
            from segtrain.report.plots import plot_steps

            plot_steps(self.path, self.plot)


class BudgetStop(Callback):
    """Stop training so that it and its final validation end within ``budget_s`` seconds.

    After every training step: stop if the time used plus the last validation's duration
    reaches the budget (Lightning then runs one last validation). Every ``REPLAN_EVERY`` steps
    and after every epoch: re-plan the schedule's total steps from the measured step time, so
    the learning rate finishes its decay when the budget runs out even if the planner's
    estimate of the step time was off.
    """

    REPLAN_EVERY = 20

    def __init__(self, budget_s: float, val_estimate_s: float, schedule=None):
        self.budget_s, self.val_s, self.schedule = budget_s, val_estimate_s, schedule
        self.start = 0.0
        self.val_started = 0.0
        self.val_total = 0.0
        self.stopped = False

    def on_train_start(self, trainer, pl_module) -> None:
        self.start = time.perf_counter()

    def on_validation_start(self, trainer, pl_module) -> None:
        self.val_started = time.perf_counter()

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self.val_s = time.perf_counter() - self.val_started
            self.val_total += self.val_s

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        elapsed = time.perf_counter() - self.start
        stop = trainer.strategy.reduce_boolean_decision(elapsed + self.val_s >= self.budget_s, all=False)
        if stop and not trainer.should_stop:
            trainer.should_stop = True
            self.stopped = True
        if trainer.global_step % self.REPLAN_EVERY == 0:
            self._replan(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._replan(trainer)

    def _replan(self, trainer) -> None:
        if self.schedule is None or trainer.global_step == 0:
            return
        elapsed = time.perf_counter() - self.start
        step_s = max(1e-6, (elapsed - self.val_total) / trainer.global_step)
        steps_per_epoch = max(1, trainer.num_training_batches // max(1, trainer.accumulate_grad_batches))
        remaining = max(0.0, self.budget_s - elapsed)
        validations_left = math.ceil(remaining / (steps_per_epoch * step_s + self.val_s))
        steps_left = max(0.0, remaining - validations_left * self.val_s) / step_s
        total = trainer.strategy.broadcast(int(trainer.global_step + steps_left), src=0)
        self.schedule.replan(trainer.global_step, total)
