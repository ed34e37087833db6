"""Recovery from non-finite and exploding steps: roll back, skip, lower the rate, or stop cleanly.

The module drops the gradients of a step whose loss or gradients were not finite, so such a
step changes nothing. This callback then acts on it, and on a step whose loss exploded (above
``EXPLOSION_FACTOR`` times both the recent median and the first step's loss, which no healthy run
reaches): it restores the last good weights and optimizer state kept in memory (taken every
``SNAPSHOT_EVERY`` good steps), multiplies the learning rate by ``lr_factor`` and goes on. After
``max_recoveries`` roll-backs it restores them once more and stops; Lightning then validates
the restored weights and ``best.ckpt`` holds finite weights. Each event is written to
``events.jsonl`` with the evidence the diagnosis needs to name a cause: labels outside the
model's classes, non-finite inputs (with their files), and whether float32 would have been finite.
"""

from __future__ import annotations

import copy
import logging
import math
import statistics
from collections import deque
from typing import Callable

import torch
from lightning.pytorch.callbacks import Callback

from segtrain.engine.records import EventLog

logger = logging.getLogger("segtrain")

SNAPSHOT_EVERY = 10
EXPLOSION_FACTOR = 100.0
RECENT = 20
SPIKE_FACTOR = 10.0
"""A failed step whose gradient norm exceeds 10x the recent median switches clipping on..."""
CLIP_AT = 2.0
"""...at 2x that median: ordinary steps are untouched, a spike is cut to a usual size."""


def weights_finite(module: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in module.state_dict().values() if t.is_floating_point())


class TrainingGuard(Callback):
    """Acts on the :class:`~segtrain.engine.module.StepRecord` the module leaves after every step.

    Parameters
    ----------
    events : EventLog
        Where events are written.
    max_recoveries, lr_factor
        Roll-backs allowed before stopping, and the learning-rate factor of each.
    describe : callable
        ``describe(sample_numbers) -> list[str]``: the files behind a batch's patches.
    num_classes, ignore_index, mode, precision
        For the evidence: which label values are valid, and whether reduced precision is used.
    """

    def __init__(self, events: EventLog, max_recoveries: int, lr_factor: float,
                 describe: Callable[[list[int]], list[str]], num_classes: int, ignore_index: int | None,
                 mode: str, precision: str):
        self.events, self.max_recoveries, self.lr_factor = events, max_recoveries, lr_factor
        self.describe, self.num_classes, self.ignore_index = describe, num_classes, ignore_index
        self.mode, self.precision = mode, str(precision)
        self.recoveries = 0
        self.first_loss: float | None = None
        self.recent: deque[float] = deque(maxlen=RECENT)
        self.norms: deque[float] = deque(maxlen=RECENT)
        self.snapshot: dict | None = None
        self.stopped = False

    # --- state saved in checkpoints (the snapshot itself is not: a resumed run starts from good weights)

    def state_dict(self) -> dict:
        return {"recoveries": self.recoveries, "first_loss": self.first_loss, "recent": list(self.recent),
                "norms": list(self.norms)}

    def load_state_dict(self, state: dict) -> None:
        self.recoveries = int(state.get("recoveries", 0))
        self.first_loss = state.get("first_loss")
        self.recent = deque(state.get("recent", []), maxlen=RECENT)
        self.norms = deque(state.get("norms", []), maxlen=RECENT)

    # --- hooks

    def on_train_start(self, trainer, pl_module) -> None:
        self._take_snapshot(trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        record = pl_module.last_step
        if record is None:
            return
        for oom in record.oom:
            self.events.write({"kind": "oom", "step": record.step, "epoch": trainer.current_epoch + 1, **oom})
            logger.warning(f"warning: out of memory at step {record.step}: micro-batch {oom['micro_batch_before']} -> "
                           f"{oom['micro_batch_after']}, gradient accumulation {oom['accumulate_before']} -> "
                           f"{oom['accumulate_after']}; the effective batch and the schedule are unchanged")
        exploded = record.problem is None and self._exploded(record.loss)
        exploded = trainer.strategy.reduce_boolean_decision(exploded, all=False)
        if exploded:
            record.problem = "explosion"  # the callbacks after this one see a failed step
        if record.problem is None:
            if self.first_loss is None:
                self.first_loss = record.loss
            self.recent.append(record.loss)
            if math.isfinite(record.grad_norm):
                self.norms.append(record.grad_norm)
            if record.step % SNAPSHOT_EVERY == 0 and weights_finite(pl_module):
                self._take_snapshot(trainer, pl_module)
            return
        event = {"kind": "divergence" if exploded else "nonfinite", "step": record.step,
                 "epoch": trainer.current_epoch + 1, "loss": record.loss, "lr": self._lr(trainer)}
        if exploded:
            event["reference_loss"] = self._reference()
        else:
            event.update(what=record.problem, precision=self.precision,
                         evidence=self._evidence(pl_module, batch))
        self.recoveries += 1
        restored = self._restore(trainer, pl_module)
        if self.recoveries > self.max_recoveries:
            event["action"] = (f"stopped after {self.max_recoveries} roll-backs; the weights of step {restored} "
                               "are kept")
            event["recoveries"] = self.recoveries - 1
            self.events.write(event)
            self.events.write({"kind": "stop", "step": record.step, "epoch": trainer.current_epoch + 1,
                               "reason": event["kind"], "detail": event["action"]})
            self.stopped = True
            trainer.should_stop = True
            logger.warning(f"warning: step {record.step}: {event['kind']} again; {event['action']}")
            return
        new_lr = self._lower_lr(trainer)
        clipped = self._clip_if_spiked(trainer, pl_module, record)
        event["action"] = (f"rolled back to the weights of step {restored}, skipped the batch, learning rate "
                           f"x{self.lr_factor:g}, now {new_lr:.3g} at its peak" + clipped)
        event["recoveries"] = self.recoveries
        self.events.write(event)
        what = "loss exploded" if exploded else f"{record.problem} not finite"
        logger.warning(f"warning: step {record.step}: {what} (loss {record.loss:.4g}); {event['action']}")

    # --- helpers

    def _reference(self) -> float:
        return statistics.median(self.recent) if self.recent else (self.first_loss or math.nan)

    def _exploded(self, loss: float) -> bool:
        if self.first_loss is None or not math.isfinite(loss):
            return False
        return loss > EXPLOSION_FACTOR * max(self._reference(), self.first_loss)

    def _clip_if_spiked(self, trainer, pl_module, record) -> str:
        """Switch gradient clipping on when the failed step's gradients spiked; returns words for the action."""
        if pl_module.clip_grad or len(self.norms) < 3:
            return ""
        usual = statistics.median(self.norms)
        if math.isfinite(record.grad_norm) and record.grad_norm <= SPIKE_FACTOR * usual:
            return ""
        pl_module.clip_grad = CLIP_AT * usual
        norm = f"{record.grad_norm:.3g}" if math.isfinite(record.grad_norm) else "not finite"
        self.events.write({"kind": "clip", "step": record.step, "epoch": trainer.current_epoch + 1,
                           "max_norm": pl_module.clip_grad,
                           "reason": f"gradient norm {norm} against a usual {usual:.3g}"})
        return f", gradient clipping on at norm {pl_module.clip_grad:.3g}"

    @staticmethod
    def _lr(trainer) -> float:
        return float(trainer.optimizers[0].param_groups[0]["lr"])

    def _take_snapshot(self, trainer, pl_module) -> None:
        self.snapshot = {
            "step": trainer.global_step,
            "model": {k: v.detach().clone() for k, v in pl_module.state_dict().items()},
            "optimizer": copy.deepcopy(trainer.optimizers[0].state_dict()),
        }

    def _restore(self, trainer, pl_module) -> int:
        if self.snapshot is None:
            return trainer.global_step
        pl_module.load_state_dict(self.snapshot["model"])
        trainer.optimizers[0].load_state_dict(copy.deepcopy(self.snapshot["optimizer"]))
        return int(self.snapshot["step"])

    def _lower_lr(self, trainer) -> float:
        """Multiply the rate by ``lr_factor`` for the rest of the run; returns the new initial (peak) rate.

        A ``LambdaLR`` schedule's base rates are lowered (so the schedule keeps its shape) and the
        current rate recomputed from them; a ``ReduceLROnPlateau`` rate is lowered directly.
        """
        optimizer = trainer.optimizers[0]
        for config in trainer.lr_scheduler_configs:
            scheduler = config.scheduler
            if isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR):
                scheduler.base_lrs = [lr * self.lr_factor for lr in scheduler.base_lrs]
                for group, base, multiplier in zip(optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas):
                    group["lr"] = base * multiplier(scheduler.last_epoch)
                return scheduler.base_lrs[0]
        for group in optimizer.param_groups:
            group["lr"] *= self.lr_factor
        return self._lr(trainer)

    def _evidence(self, pl_module, batch) -> dict:
        images, masks = batch[0], batch[1]
        numbers = batch[2].tolist() if len(batch) > 2 and torch.is_tensor(batch[2]) else []
        values = torch.unique(masks).tolist()
        valid = {0, 1} if self.mode == "multilabel" else set(range(self.num_classes))
        if self.ignore_index is not None:
            valid.add(self.ignore_index)
        bad_rows = (~torch.isfinite(images.flatten(1))).any(1).tolist()
        files = sorted(set(self.describe([n for n, bad in zip(numbers, bad_rows) if bad]))) if numbers else []
        evidence = {"labels_out_of_range": [int(v) for v in values if v not in valid],
                    "num_classes": self.num_classes, "nonfinite_inputs": files,
                    "fp32_finite": None}
        if self.precision not in ("32", "32-true", "64"):
            with torch.no_grad(), torch.autocast(images.device.type, enabled=False):
                loss = pl_module.loss_fn(pl_module(images.float()), masks)
            evidence["fp32_finite"] = bool(torch.isfinite(loss))
        return evidence
