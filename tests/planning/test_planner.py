from segtrain.config import SegtrainConfig
from segtrain.planning.planner import DEFAULT_BUDGET_S, MIN_VALIDATIONS, plan_training
from segtrain.runtime.env import Machine

CPU = Machine("cpu", bf16=False, cores=2, description="test CPU")


def _plan(train=None, sizes=((288, 384),) * 10, timer=None, machine=CPU):
    config = SegtrainConfig.model_validate({"train": train or {}})
    return plan_training(
        config, in_channels=1, num_classes=2, train_sizes=list(sizes), val_sizes=list(sizes[:3]),
        machine=machine, timer=timer,
    )


def test_patch_from_median_short_side_and_steps_are_ceiling():
    plan = _plan({"epochs": 4})
    assert plan["patch_size"] == 256  # median short side 288, capped at 256
    assert plan["patches_per_epoch"] == 10 * 2 * 2
    assert plan["steps_per_epoch"] == 5  # ceil(40 / 8)
    assert plan["total_steps"] == 20
    assert plan["images_seen"] == 8 * 5 * 4


def test_small_images_give_patch_rounded_down_to_network_multiple():
    assert _plan({"epochs": 1}, sizes=((100, 120),) * 4)["patch_size"] == 96


def test_user_values_override_and_are_marked():
    plan = _plan({"epochs": 2, "batch_size": 4, "lr": 0.1, "patch_size": 64})
    for name in ("epochs", "batch_size", "lr", "patch_size"):
        assert plan.items[name].source == "user"
    assert plan["steps_per_epoch"] == 75  # 10 images x 5 x 6 tiles of 64 = 300 patches; ceil(300 / 4)
    assert plan.items["steps_per_epoch"].source == "planned"


def test_budget_turns_into_epochs_from_measured_step_time():
    calls = []

    def timer(batch, patch, bf16, channels_last):
        calls.append((batch, patch))
        return 0.5, 0.01

    plan = _plan({"budget_s": "2m"}, timer=timer)
    assert calls == [(8, 256)]
    val_s = 3 * 4 * 0.01 * 1.3  # 3 images of 2x2 tiles
    assert plan["epochs"] == int(120 // (5 * 0.5 + val_s))
    assert plan["budget_s"] == 120


def test_short_budget_reduces_steps_per_epoch_to_validate_several_times():
    plan = _plan({"budget_s": 30}, sizes=((288, 384),) * 200, timer=lambda *a: (0.5, 0.01))
    assert plan["epochs"] >= MIN_VALIDATIONS
    assert plan["steps_per_epoch"] < 100  # ceil(800 / 8) would give a single epoch


def test_default_budget_when_nothing_given():
    plan = _plan({}, timer=lambda *a: (0.1, 0.01))
    assert plan["budget_s"] == DEFAULT_BUDGET_S


def test_bf16_and_channels_last_follow_the_machine():
    plan = _plan({"epochs": 1}, machine=Machine("cpu", bf16=True, cores=2, description="x"))
    assert plan["precision"] == "bf16-mixed" and plan["channels_last"] is True
    assert _plan({"epochs": 1})["precision"] == "32"
