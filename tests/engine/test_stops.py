"""The stoppers record why they stopped; the budget clock survives a checkpoint; re-planning reads the clock."""

from __future__ import annotations

from types import SimpleNamespace

from segtrain.engine.replan import ScheduleReplan
from segtrain.engine.stops import BUDGET, PLANNED_END, BudgetStop, StepLimitStop, who_stopped


class _Strategy:
    def reduce_boolean_decision(self, decision, all=True):
        return decision

    def broadcast(self, value, src=0):
        return value


def _trainer(step=0, callbacks=(), batches=10):
    return SimpleNamespace(global_step=step, should_stop=False, callbacks=list(callbacks), strategy=_Strategy(),
                           num_training_batches=batches, sanity_checking=False)


def test_step_limit_stops_at_max_steps_with_the_planned_end_reason():
    stop = StepLimitStop(5)
    trainer = _trainer(4, [stop])
    stop.on_train_batch_end(trainer, None, None, None, 0)
    assert not trainer.should_stop and stop.reason is None and who_stopped(trainer, StepLimitStop) is None
    trainer.global_step = 5
    stop.on_train_batch_end(trainer, None, None, None, 0)
    assert trainer.should_stop and stop.stopped
    assert (stop.reason, stop.detail) == PLANNED_END == ("planned end", "the planned number of epochs or steps was reached")
    assert who_stopped(trainer, StepLimitStop) is stop


def test_budget_stops_when_time_and_the_last_validation_reach_it(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("segtrain.engine.stops.time.perf_counter", lambda: clock[0])
    stop = BudgetStop(60.0, 10.0)
    trainer = _trainer(1, [stop])
    stop.on_train_start(trainer, None)
    clock[0] = 149.0  # 49 s + a 10 s validation: within the budget
    stop.on_train_batch_end(trainer, None, None, None, 0)
    assert not trainer.should_stop and not stop.stopped
    clock[0] = 150.0
    stop.on_train_batch_end(trainer, None, None, None, 0)
    assert trainer.should_stop and (stop.reason, stop.detail) == BUDGET == ("budget", "the wall-clock budget was used")
    assert who_stopped(trainer, BudgetStop) is stop


def test_budget_does_not_claim_a_stop_already_decided(monkeypatch):
    monkeypatch.setattr("segtrain.engine.stops.time.perf_counter", lambda: 1000.0)
    stop = BudgetStop(1.0, 0.0)
    trainer = _trainer(1, [stop])
    trainer.should_stop = True
    stop.on_train_batch_end(trainer, None, None, None, 0)
    assert stop.reason is None and who_stopped(trainer, BudgetStop) is None


def test_budget_clock_carries_over_a_checkpoint_unless_fresh(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("segtrain.engine.stops.time.perf_counter", lambda: clock[0])
    first = BudgetStop(60.0, 5.0)
    first.on_train_start(_trainer(), None)
    first.val_total = 4.0
    clock[0] = 130.0
    state = first.state_dict()
    assert state == {"elapsed": 30.0, "val_total": 4.0, "val_s": 5.0}
    resumed = BudgetStop(60.0, 1.0)
    resumed.load_state_dict(state)
    clock[0] = 500.0
    resumed.on_train_start(_trainer(), None)
    assert resumed.start == 470.0 and resumed.val_total == 4.0 and resumed.val_s == 5.0
    extended = BudgetStop(60.0, 1.0)
    extended.fresh = True
    extended.load_state_dict(state)
    extended.on_train_start(_trainer(), None)
    assert extended.start == 500.0 and extended.val_total == 0.0 and extended.val_s == 1.0


def test_replan_sets_the_total_steps_from_the_measured_step_time(monkeypatch):
    monkeypatch.setattr("segtrain.engine.replan.time.perf_counter", lambda: 150.0)
    clock = BudgetStop(100.0, 5.0)
    clock.start, clock.val_total = 100.0, 10.0  # 50 s used: 40 s for 20 steps, 2 s a step
    replanned = []
    replan = ScheduleReplan(clock, SimpleNamespace(replan=lambda step, total: replanned.append((step, total))))
    trainer = _trainer(19, batches=10)
    replan.on_train_batch_end(trainer, None, None, None, 0)
    assert replanned == []  # only every REPLAN_EVERY steps
    trainer.global_step = 20
    replan.on_train_batch_end(trainer, None, None, None, 0)
    # 50 s left: epochs of 10 steps (20 s) and a 5 s validation -> 2 validations, 40 s of steps, 20 steps
    assert replanned == [(20, 40)]
    replan.on_train_epoch_end(trainer, None)
    assert replanned == [(20, 40), (20, 40)]


def test_replan_without_a_schedule_or_before_the_first_step_does_nothing():
    clock = BudgetStop(100.0, 5.0)
    ScheduleReplan(clock, None).on_train_epoch_end(_trainer(20), None)
    replanned = []
    ScheduleReplan(clock, SimpleNamespace(replan=lambda *a: replanned.append(a))).on_train_epoch_end(_trainer(0), None)
    assert replanned == []


def test_a_fresh_clock_on_a_continued_run_times_only_its_own_steps(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("segtrain.engine.stops.time.perf_counter", lambda: now[0])
    monkeypatch.setattr("segtrain.engine.replan.time.perf_counter", lambda: now[0])
    clock = BudgetStop(100.0, 5.0)
    clock.fresh = True  # a budget race's winner going on from step 100
    clock.on_train_start(_trainer(100), None)
    assert clock.first_step == 100
    now[0], clock.val_total = 150.0, 10.0  # 40 s of steps for the 20 steps since step 100: 2 s a step
    replanned = []
    ScheduleReplan(clock, SimpleNamespace(replan=lambda step, total: replanned.append((step, total)))) \
        .on_train_epoch_end(_trainer(120, batches=10), None)
    assert replanned == [(120, 140)]  # as from step 0 above: 20 more steps (not 120 steps in 40 s)
