"""Schedule re-planning under a wall-clock budget: the learning rate ends its decay when the budget does.

The planner turns the budget into total steps from a step time measured before training; the
real step time differs (a busy machine, a cache warming up, validation longer than estimated).
Every ``REPLAN_EVERY`` steps and after every epoch, :class:`ScheduleReplan` re-plans the
schedule's total steps from the step time measured so far, read from the run's budget clock
(:class:`segtrain.engine.stops.BudgetStop`), so the rate finishes its decay when the budget
runs out. The schedule re-plans without jumps (:meth:`segtrain.optim.schedules.Schedule.replan`).
"""

from __future__ import annotations

import math
import time

from lightning.pytorch.callbacks import Callback

from segtrain.engine.stops import BudgetStop


class ScheduleReplan(Callback):
    """Re-plans ``schedule`` to end with ``clock``'s budget.

    Parameters
    ----------
    clock : BudgetStop
        The budget (``budget_s``), the time used (from ``start``), the time spent validating
        (``val_total``) and the last validation's duration (``val_s``).
    schedule : Schedule
        The module's schedule, re-planned in place.
    """

    REPLAN_EVERY = 20

    def __init__(self, clock: BudgetStop, schedule):
        self.clock, self.schedule = clock, schedule

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step % self.REPLAN_EVERY == 0:
            self._replan(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._replan(trainer)

    def _replan(self, trainer) -> None:
        if self.schedule is None or trainer.global_step == 0:
            return
        clock = self.clock
        elapsed = time.perf_counter() - clock.start
        done = trainer.global_step - clock.first_step  # the steps this clock has timed
        if done <= 0:
            return
        step_s = max(1e-6, (elapsed - clock.val_total) / done)
        steps_per_epoch = max(1, trainer.num_training_batches)  # one loader batch is one update
        remaining = max(0.0, clock.budget_s - elapsed)
        validations_left = math.ceil(remaining / (steps_per_epoch * step_s + clock.val_s))
        steps_left = max(0.0, remaining - validations_left * clock.val_s) / step_s
        total = trainer.strategy.broadcast(int(trainer.global_step + steps_left), src=0)
        self.schedule.replan(trainer.global_step, total)
