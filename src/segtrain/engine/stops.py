"""The stoppers: callbacks that end training through ``trainer.should_stop``, each recording why.

Stopping through ``trainer.should_stop`` (rather than Lightning's ``max_steps`` or ``max_time``)
lets Lightning validate the cut epoch, so a best checkpoint is still chosen. A stopper that
stops sets :attr:`Stopper.reason` and :attr:`Stopper.detail`: the run's ``stopped by`` line and
its ``stop`` event in ``events.jsonl`` read them (:func:`segtrain.engine.fit.fit`).
"""

from __future__ import annotations

import time

from lightning.pytorch.callbacks import Callback

PLANNED_END = ("planned end", "the planned number of epochs or steps was reached")
"""Reason and detail of a run that ran to its end: its epochs, or ``max_steps`` (:class:`StepLimitStop`)."""
BUDGET = ("budget", "the wall-clock budget was used")
"""Reason and detail of a run that :class:`BudgetStop` ended."""


class Stopper(Callback):
    """A callback that may end training; once it has, :attr:`reason` and :attr:`detail` say why."""

    reason: str | None = None
    """The short reason (``"budget"``, ``"planned end"``), set when this callback stops the run."""
    detail: str | None = None
    """The reason in a sentence, for the ``stop`` event."""

    @property
    def stopped(self) -> bool:
        """Whether this callback stopped the run."""
        return self.reason is not None

    def _stop(self, trainer, why: tuple[str, str]) -> None:
        trainer.should_stop = True
        self.reason, self.detail = why


def who_stopped(trainer, kind: type[Stopper]) -> Stopper | None:
    """The callback of type ``kind`` among the trainer's that stopped the run, if one did."""
    return next((c for c in trainer.callbacks if isinstance(c, kind) and c.stopped), None)


class StepLimitStop(Stopper):
    """At ``max_steps``, stop through ``trainer.should_stop`` so that the cut epoch is still validated
    (Lightning's own ``max_steps`` ends the epoch without validating it, and no best checkpoint is chosen)."""

    def __init__(self, max_steps: int):
        self.max_steps = max_steps

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.max_steps:
            self._stop(trainer, PLANNED_END)


class BudgetStop(Stopper):
    """Stop training so that it and its final validation end within ``budget_s`` seconds.

    After every training step: stop if the time used plus the last validation's duration
    reaches the budget (Lightning then runs one last validation). It is also the run's budget
    clock: the time used (:attr:`start`), the time spent validating (:attr:`val_total`) and the
    last validation's duration (:attr:`val_s`) are saved in checkpoints, so a resumed run goes on
    counting; :class:`segtrain.engine.replan.ScheduleReplan` reads them to re-plan the schedule.
    """

    def __init__(self, budget_s: float, val_estimate_s: float):
        self.budget_s, self.val_s = budget_s, val_estimate_s
        self.start = 0.0
        self.val_started = 0.0
        self.val_total = 0.0

    first_step = 0
    """The step at which this clock started: a fresh clock on a continued run (see :attr:`fresh`) counts from there."""

    def on_train_start(self, trainer, pl_module) -> None:
        self.start = time.perf_counter() - getattr(self, "elapsed", 0.0)
        self.first_step = trainer.global_step if self.fresh else 0

    def state_dict(self) -> dict:
        return {"elapsed": time.perf_counter() - self.start, "val_total": self.val_total, "val_s": self.val_s}

    fresh = False
    """Set for a run extended with a new budget: the saved clock is not carried over."""

    def load_state_dict(self, state: dict) -> None:
        if not self.fresh:
            self.elapsed, self.val_total, self.val_s = state["elapsed"], state["val_total"], state["val_s"]

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
            self._stop(trainer, BUDGET)
