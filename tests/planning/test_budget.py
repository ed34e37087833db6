from pathlib import Path

import pytest

from segtrain.config import SegtrainConfig
from segtrain.errors import UserError
from segtrain.planning.batch import BatchPlan
from segtrain.planning.budget import (
    DEFAULT_BUDGET_S, DEFAULT_EPOCHS, duration_from_file, epochs_in_budget, extend_duration, plan_duration,
    steps_for_validations, steps_in_budget, validation_tiles,
)
from segtrain.planning.plan import TrainingPlan
from segtrain.planning.planner import _Planner

RUN = Path("runs/r1")


class StepProbes:
    """A micro step of 0.5 s at any batch, and 0.2 s of forward time per validation tile."""

    def speed(self, batch, patch, bf16, channels_last):
        return 0.5, 0.2


def _duration(train, sizes=BatchPlan(8, 1, 1), patches=1000, probes=StepProbes(), given=None):
    """plan_duration for patches of 256 and ten 256x256 validation images (one tile each: 2.6 s of validation)."""
    plan = TrainingPlan()
    plan.set("precision", "32", "stated")
    config = SegtrainConfig.model_validate({"train": train})
    total = plan_duration(_Planner(plan, given or TrainingPlan()), probes, config, sizes, patches, 256, False, False,
                          [(256, 256)] * 10)
    return plan, total


def test_epochs_in_budget():
    assert epochs_in_budget(300, 100, 0.5, 10) == 5  # 300 / (50 + 10)
    assert epochs_in_budget(10, 100, 0.5, 10) == 1  # never below one


def test_steps_for_validations_and_steps_in_budget():
    assert steps_for_validations(120, 0.5, 3) == 74  # (120 / 3 - 3) / 0.5 = 74
    assert epochs_in_budget(120, 74, 0.5, 3) == 3  # 120 // (37 + 3)
    assert steps_for_validations(6, 0.5, 3) == 1  # validation alone overfills a third of the budget
    assert steps_in_budget(300, 0.5) == 600
    assert steps_in_budget(100, 0.3) == 333


def test_validation_tiles():
    # patch 256, overlap 0.25: stride 192; 288 -> 2 tiles, 384 -> 2 tiles, 256 -> 1 tile
    assert validation_tiles([(288, 384)] * 3, 256, 0.25) == 12
    assert validation_tiles([(256, 256), (100, 80)], 256, 0.25) == 2


def test_budget_becomes_epochs_from_the_step_and_validation_time():
    plan, total = _duration({"budget_s": 300})
    # ceil(1000 / 8) = 125 steps of 0.5 s = 62.5 s, validation 10 tiles x 0.2 s x 1.3 = 2.6 s: 300 // 65.1 = 4
    assert plan["steps_per_epoch"] == 125
    assert plan["step_seconds"] == 0.5 and plan["validation_seconds"] == 2.6
    assert plan["epochs"] == 4 and total == plan["total_steps"] == 500
    assert plan["samples_seen"] == 8 * 125 * 4
    assert plan.items["budget_s"].source == "user"


def test_short_budget_cuts_steps_per_epoch_for_three_validations():
    plan, total = _duration({"budget_s": 120})
    # 120 // 65.1 = 1 epoch < 3: steps int((120 / 3 - 2.6) / 0.5) = 74, then 120 // (37 + 2.6) = 3 epochs
    assert plan["steps_per_epoch"] == 74 and "at least 3 times" in plan.items["steps_per_epoch"].reason
    assert plan["epochs"] == 3 and total == 222


def test_accumulation_doubles_the_step_and_the_iterations():
    plan, total = _duration({"budget_s": 300}, sizes=BatchPlan(8, 2, 1))
    # effective 16: ceil(1000 / 16) = 63 steps of 2 x 0.5 s; 300 // (63 + 2.6) = 4 epochs
    assert plan["step_seconds"] == 1.0 and plan["steps_per_epoch"] == 63
    assert plan["epochs"] == 4 and total == 252
    assert plan["iterations"] == 504 and plan["samples_seen"] == 8 * 2 * 63 * 4


def test_max_steps_and_epochs_and_the_defaults():
    plan, total = _duration({"max_steps": 500})
    assert plan["epochs"] == 4 and total == 500  # ceil(500 / 125)
    assert plan["samples_seen"] == 8 * 500
    assert "budget_s" not in plan
    plan, total = _duration({"epochs": 3})
    assert total == 375 and "step_seconds" not in plan
    plan, _ = _duration({})
    assert plan["budget_s"] == DEFAULT_BUDGET_S and plan["epochs"] == 9  # 600 // 65.1
    plan, _ = _duration({}, probes=None)  # nothing measured: default epochs, the budget is only stated
    assert plan["epochs"] == DEFAULT_EPOCHS and plan["budget_s"] == DEFAULT_BUDGET_S


def test_a_saved_plan_keeps_its_step_times_for_the_same_batch():
    saved, _ = _duration({"budget_s": 300})
    for name, value in (("batch_size", 8), ("patch_size", 256), ("accumulate", 1)):
        saved.set(name, value, "planned")
    plan, _ = _duration({}, probes=None, given=saved)
    assert plan["budget_s"] == 300 and plan.items["budget_s"].source == "plan file"
    assert plan.items["step_seconds"].source == "plan file" and plan["epochs"] == 4


def test_duration_from_file_keeps_a_given_epoch_count():
    saved = TrainingPlan()
    saved.set("epochs", 7, "given by the user (overrides the plan)", "user")
    config = SegtrainConfig()
    assert duration_from_file(config, saved).train.epochs == 7
    assert config.train.epochs is None  # the caller's config is not changed
    budget = SegtrainConfig.model_validate({"train": {"budget_s": 60}})
    assert duration_from_file(budget, saved) is budget  # a duration given now wins
    planned = TrainingPlan()
    planned.set("epochs", 7, "estimate from a budget")
    assert duration_from_file(config, planned) is config  # only a user's duration is kept


def _finished_run(step_s=0.5, budget=None):
    plan = TrainingPlan()
    plan.set("steps_per_epoch", 10, "planned")
    plan.set("epochs", 4, "planned")
    plan.set("total_steps", 40, "planned")
    if budget is not None:
        plan.set("budget_s", budget, "given by the user", "user")
    if step_s is not None:
        plan.set("step_seconds", step_s, "measured")
    return plan


def test_extending_by_a_budget_adds_the_steps_it_holds():
    plan = _finished_run()
    extend = extend_duration(plan, {"budget": "5m"}, 40, RUN)
    assert extend == {"epochs": None, "budget_s": 300.0, "max_steps": None}
    assert plan["total_steps"] == 40 + 600  # 300 s / 0.5 s per step
    assert plan["epochs"] == -1 and plan["budget_s"] == 300
    unmeasured = _finished_run(step_s=None)
    extend_duration(unmeasured, {"budget": "2m"}, 40, RUN)
    assert unmeasured["total_steps"] == 40 + 120  # 1 s per step when no step time was measured


def test_extending_by_epochs_or_steps():
    plan = _finished_run(budget=120)
    assert extend_duration(plan, {"epochs": 6}, 40, RUN) == {"epochs": 6, "budget_s": None, "max_steps": None}
    assert plan["total_steps"] == 60 and plan["budget_s"] is None
    assert "was 4" in plan.items["epochs"].reason
    plan = _finished_run()
    assert extend_duration(plan, {"max_steps": 100}, 40, RUN)["max_steps"] == 100
    assert plan["total_steps"] == 100 and plan["epochs"] == 4


def test_extending_refuses_what_would_not_train_longer():
    with pytest.raises(UserError, match=r"^--epochs 4: runs/r1 has already trained 4 epochs; give more than 4$"):
        extend_duration(_finished_run(), {"epochs": 4}, 40, RUN)
    with pytest.raises(UserError, match=r"^--max-steps 40: runs/r1 is already at step 40$"):
        extend_duration(_finished_run(), {"max_steps": 40}, 40, RUN)
    with pytest.raises(UserError, match=r"^--budget: 'soon' is not a duration"):
        extend_duration(_finished_run(), {"budget": "soon"}, 40, RUN)
