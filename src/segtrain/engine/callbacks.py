"""Callbacks that record: the per-epoch and per-step logs, atomic checkpoints.

The stoppers (the wall-clock budget, ``max_steps``) are in :mod:`segtrain.engine.stops`.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.plugins.io import TorchCheckpointIO

from segtrain._text import format_seconds
from segtrain.engine.records import memory_limit_mb, peak_memory_mb
from segtrain.inference.predictor import load_checkpoint
from segtrain.runtime.rundir import save_checkpoint_atomic

logger = logging.getLogger("segtrain")

CSV_COLUMNS = ("epoch", "step", "train_loss", "val_loss", "val_dice", "val_iou", "lr", "seconds", "train_seconds",
               "data_share", "val_fg_pred", "val_fg_true", "peak_memory_mb", "memory_limit_mb")
"""``seconds``: since training started; ``train_seconds``: the part of it not spent validating;
``data_share``: the share of the epoch's training time spent waiting for the next batch;
``val_fg_pred`` / ``val_fg_true``: shares of validation pixels predicted / truly foreground;
``peak_memory_mb``: peak memory so far (process resident set on a CPU, CUDA peak on a GPU);
``memory_limit_mb``: the memory the run may use. Then ``val_dice_<k>`` per class."""


class NonFiniteWeights(Exception):
    """A checkpoint would have held NaN or infinite weights (it is not written)."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to a temporary file and renamed: a crash never leaves a partial file.

    A checkpoint whose weights are not all finite is never written (the previous one is kept and
    a warning says so), and checkpoints are read with ``weights_only=True``: no code runs on load.
    """

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        state = checkpoint.get("state_dict", {})
        bad = [k for k, v in state.items() if torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all()]
        if bad:
            logger.warning(f"warning: {Path(path).name} not written: {len(bad)} weight tensors hold NaN or inf "
                           f"(e.g. {bad[0]}); the previous checkpoint is kept")
            return
        save_checkpoint_atomic(checkpoint, Path(path))

    def load_checkpoint(self, path, map_location=None, weights_only=None):
        return load_checkpoint(path)


class EpochLog(Callback):
    """One row per epoch in ``metrics.csv`` and one line on the console.

    The training loss of an epoch is the mean over its steps (averaged over DDP ranks).
    """

    def __init__(self, path: Path, max_epochs: int | None = None, budget_s: float | None = None,
                 num_classes: int = 2, device: str = "cpu"):
        self.path, self.max_epochs, self.budget_s = Path(path), max_epochs, budget_s
        self.columns = CSV_COLUMNS + tuple(f"val_dice_{k}" for k in range(num_classes))
        self.device = device
        self.start = 0.0
        self.offset = 0.0  # seconds of training before a resume
        self.loss_sum, self.loss_count = 0.0, 0
        self.val_started, self.val_seconds = 0.0, 0.0
        self.wait, self.busy, self.batch_started, self.batch_ended = 0.0, 0.0, 0.0, None
        self.limit_mb = math.nan

    def state_dict(self) -> dict:
        return {"seconds": time.perf_counter() - self.start + self.offset, "val_seconds": self.val_seconds,
                "loss_sum": self.loss_sum, "loss_count": self.loss_count, "wait": self.wait, "busy": self.busy}

    def load_state_dict(self, state: dict) -> None:
        self.offset, self.val_seconds = float(state["seconds"]), float(state["val_seconds"])
        self.loss_sum, self.loss_count = float(state["loss_sum"]), int(state["loss_count"])
        self.wait, self.busy = float(state["wait"]), float(state["busy"])

    def on_validation_start(self, trainer, pl_module) -> None:
        self.val_started = time.perf_counter()

    def on_validation_end(self, trainer, pl_module) -> None:
        self.val_seconds += time.perf_counter() - self.val_started
        self.batch_ended = None  # the wait for the next batch starts after validation

    def on_fit_start(self, trainer, pl_module) -> None:
        self.start = time.perf_counter()
        self.limit_mb = memory_limit_mb(self.device)
        if trainer.is_global_zero and not self.path.exists():
            self.path.write_text(",".join(self.columns) + "\n")

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        # (not called when Lightning resumes inside an epoch: the counts loaded from the checkpoint go on)
        self.loss_sum, self.loss_count, self.wait, self.busy = 0.0, 0, 0.0, 0.0
        self.batch_ended = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.batch_started = time.perf_counter()
        if self.batch_ended is not None:
            self.wait += self.batch_started - self.batch_ended

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.batch_ended = time.perf_counter()
        self.busy += self.batch_ended - self.batch_started
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        record = getattr(pl_module, "last_step", None)
        if record is not None and record.problem:  # a skipped step changed nothing: not part of the mean
            return
        if loss is not None and math.isfinite(float(loss)):
            self.loss_sum += float(loss)
            self.loss_count += 1

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        mean = self.loss_sum / self.loss_count if self.loss_count else math.nan
        train_loss = float(trainer.strategy.reduce(torch.tensor(mean), reduce_op="mean"))
        metrics = trainer.callback_metrics
        seconds = time.perf_counter() - self.start + self.offset
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
            "data_share": self.wait / (self.wait + self.busy) if self.wait + self.busy > 0 else math.nan,
            "val_fg_pred": float(metrics.get("val/fg_pred", math.nan)),
            "val_fg_true": float(metrics.get("val/fg_true", math.nan)),
            "peak_memory_mb": peak_memory_mb(self.device),
            "memory_limit_mb": self.limit_mb,
        }
        for column in self.columns[len(CSV_COLUMNS):]:
            row[column] = float(metrics.get("val/" + column.removeprefix("val_"), math.nan))
        self.loss_sum, self.loss_count, self.wait, self.busy = 0.0, 0, 0.0, 0.0  # the epoch-end checkpoint saves these
        if not trainer.is_global_zero:
            return
        with self.path.open("a") as handle:
            handle.write(",".join(f"{row[c]:.6g}" if isinstance(row[c], float) else str(row[c]) for c in self.columns) + "\n")
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
    """``steps.csv``: the learning rate and training loss of every weight update (the report plots them).

    The rate recorded is the one the optimizer used for that update (read before the step); the
    loss is the mean over the update's micro-batches, and ``grad_norm`` the total gradient norm.
    Rows are flushed at every epoch end and every checkpoint.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.rows: list[tuple[int, int, float, float]] = []
        self.lr = math.nan

    def on_fit_start(self, trainer, pl_module) -> None:
        if trainer.is_global_zero and not self.path.exists():
            self.path.write_text("step,epoch,lr,loss,grad_norm\n")

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.lr = trainer.optimizers[0].param_groups[0]["lr"]

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        record = getattr(pl_module, "last_step", None)
        if record is not None:
            self.rows.append((record.step, trainer.current_epoch + 1, self.lr, record.loss, record.grad_norm))

    def _flush(self, trainer) -> None:
        if trainer.is_global_zero and self.rows:
            with self.path.open("a") as handle:
                handle.writelines(f"{s},{e},{lr:.6g},{loss:.6g},{g:.6g}\n" for s, e, lr, loss, g in self.rows)
        self.rows = []

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._flush(trainer)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        self._flush(trainer)

    def on_fit_end(self, trainer, pl_module) -> None:
        self._flush(trainer)



class TrainingInterrupted(SystemExit):
    """Ctrl-C ended training: exit code 130, and ``line`` says where training stopped and how to resume.

    A ``SystemExit`` (as Lightning's own ``sys.exit(1)`` on Ctrl-C, which it replaces): it passes
    every handler of errors and of ``KeyboardInterrupt`` (typer would swallow the line) up to the
    exit-code policy, which prints ``line``.
    """

    def __init__(self, line: str):
        super().__init__(130)
        self.line = line


class Interruption(Callback):
    """On Ctrl-C (Lightning hands the ``KeyboardInterrupt`` to ``on_exception`` before it exits):
    ``last.ckpt`` is written (atomically, as every checkpoint) with the weights and loop state of the
    moment, and an ``interrupted`` event names the epoch and step; ``stopped`` then holds
    ``(epoch, step, saved)`` for :meth:`error`."""

    def __init__(self, last: Path, events):
        self.last, self.events = Path(last), events
        self.stopped: tuple[int, int, bool] | None = None

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if not isinstance(exception, KeyboardInterrupt):
            return
        epoch, step, saved = trainer.current_epoch + 1, int(trainer.global_step), False
        if trainer.world_size == 1 and step > 0:  # several processes would wait on each other to save
            try:
                trainer.save_checkpoint(self.last)
                saved = True
            except Exception as exc:  # noqa: BLE001 - the interruption is reported either way
                logger.debug(f"last.ckpt not written on interrupt: {type(exc).__name__}: {exc}")
        self.stopped = (epoch, step, saved)
        self.events.write({"kind": "interrupted", "step": step, "epoch": epoch, "checkpoint_saved": saved,
                           "detail": "Ctrl-C (SIGINT) during training"})

    def error(self, run: Path, exc: BaseException) -> BaseException:
        """What to raise after ``trainer.fit`` ended with ``exc``: for Ctrl-C (Lightning's ``sys.exit(1)``
        once it handled one) a :class:`TrainingInterrupted` whose line says where the run stopped and the
        command that resumes it, with Ctrl-C working again; any other exit is ``exc`` itself."""
        import shlex

        if self.stopped is None and not isinstance(exc, KeyboardInterrupt):
            return exc
        restore_sigint()
        epoch, step, saved = self.stopped or (0, 0, False)
        where = f"training stopped in epoch {epoch} at step {step}"
        if saved:
            kept = f"{self.last} holds the weights of step {step}"
        elif self.last.exists():
            kept = f"{self.last} holds the last checkpoint written before"
        else:
            kept = "no checkpoint was written yet, so resuming starts again from the beginning"
        return TrainingInterrupted(f"{where}; {kept}; resume with: segtrain train --resume {shlex.quote(str(run))}")


def restore_sigint() -> None:
    """Ctrl-C raises ``KeyboardInterrupt`` again (Lightning ignores SIGINT once it caught one)."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
