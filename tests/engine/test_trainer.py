"""The progress bar's figures: the last loss, the latest validation Dice and the run's time left."""

from __future__ import annotations

import math
from types import SimpleNamespace

from segtrain.engine.stops import BudgetStop
from segtrain.engine.trainer import _ProgressBar


def _trainer(step, callbacks=(), max_steps=-1, estimated=100, **shown):
    return SimpleNamespace(progress_bar_metrics=shown, callbacks=list(callbacks), max_steps=max_steps,
                           estimated_stepping_batches=estimated, global_step=step)


def _bar(clock, start=100.0, first_step=0):
    bar = _ProgressBar()
    bar._start, bar._first_step = start, first_step
    return bar


def test_loss_dice_and_time_left_at_the_pace_so_far(monkeypatch):
    monkeypatch.setattr("segtrain.engine.trainer.time.perf_counter", lambda: 130.0)
    bar = _bar(None)  # 30 s for 10 steps: 3 s per step, 90 steps left
    items = bar.get_metrics(_trainer(10, **{"train/loss": 0.123456, "val/dice": 0.9, "val/iou": 0.5}), None)
    assert items == {"loss": "0.1235", "val dice": "0.9000", "run left": "4m30s"}


def test_resumed_run_counts_its_pace_from_the_resume(monkeypatch):
    monkeypatch.setattr("segtrain.engine.trainer.time.perf_counter", lambda: 110.0)
    bar = _bar(None, first_step=50)  # resumed at step 50; 5 steps in 10 s; 40 of max_steps 95 left
    assert bar.get_metrics(_trainer(55, max_steps=95), None) == {"run left": "1m20s"}


def test_budget_left_and_unknown_length(monkeypatch):
    monkeypatch.setattr("segtrain.engine.trainer.time.perf_counter", lambda: 200.0)
    budget = BudgetStop(150.0, 0.0)
    budget.start = 100.0
    assert _bar(None).get_metrics(_trainer(3, [budget], estimated=math.inf), None) == {"run left": "50s"}
    assert _bar(None).get_metrics(_trainer(0, estimated=math.inf), None) == {}  # no step yet, no budget


def test_users_loggers_and_callbacks_join_segtrains(tmp_path):
    from lightning.pytorch import Callback
    from lightning.pytorch.loggers import CSVLogger

    from segtrain.config.schema import SegtrainConfig
    from segtrain.engine.callbacks import EpochLog
    from segtrain.engine.trainer import UserHooks, build_trainer
    from segtrain.planning.plan import TrainingPlan
    from segtrain.runtime.rundir import RunDir

    plan = TrainingPlan()
    for name, value in {"device": "cpu", "precision": "32", "epochs": 1}.items():
        plan.set(name, value, "test")
    mine, csv_logger = Callback(), CSVLogger(tmp_path / "logs")
    trainer, _ = build_trainer(RunDir(tmp_path / "run"), SegtrainConfig(), plan, progress=False,
                               hooks=UserHooks((csv_logger,), (mine,)))
    assert trainer.loggers == [csv_logger]
    assert mine in trainer.callbacks and any(isinstance(c, EpochLog) for c in trainer.callbacks)
    trainer, _ = build_trainer(RunDir(tmp_path / "run2"), SegtrainConfig(), plan, progress=False)
    assert trainer.loggers == []
