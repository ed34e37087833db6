import math

import pytest

from segtrain.config import SegtrainConfig
from segtrain.data.fingerprint import Fingerprint
from segtrain.data.structures import ClassStructure, Structures
from segtrain.errors import UserError
from segtrain.planning.batch import MemoryFit
from segtrain.planning.lr_finder import LRCurve, LRSuggestion
from segtrain.planning.budget import DEFAULT_BUDGET_S, MIN_VALIDATIONS
from segtrain.planning.planner import TrainingPlan, plan_training
from segtrain.runtime.env import Machine

CPU = Machine("cpu", bf16=False, cores=2, description="test CPU")
BF16_CPU = Machine("cpu", bf16=True, cores=2, description="test CPU with bf16")
GPU = Machine("cuda", bf16=True, cores=16, description="test GPU")
MB = 2**20


class FakeProbes:
    """Known measurements: step time = overhead + per-sample cost (variant-dependent), linear memory."""

    def __init__(self, per_sample_s=0.05, overhead_s=0.1, memory_per_sample=100 * MB, available=4096 * MB,
                 suggestion=3e-3, gpu_fit=64, agreement=(1e-4, 0.999)):
        self.per_sample_s, self.overhead_s = per_sample_s, overhead_s
        self.memory_per_sample, self.available = memory_per_sample, available
        self.suggestion, self.gpu_fit, self._agreement = suggestion, gpu_fit, agreement
        self.calls = []

    def speed(self, batch, patch, bf16, channels_last):
        self.calls.append(("speed", batch, patch, bf16, channels_last))
        factor = (0.5 if bf16 else 1.0) * (0.8 if channels_last else 1.0)
        return (self.overhead_s + self.per_sample_s * batch) * factor, 0.01

    def agreement(self, batch, patch):
        return self._agreement

    def memory(self, patch, bf16, channels_last):
        measured = {b: int(50 * MB + self.memory_per_sample * b) for b in (1, 2, 4)}
        return MemoryFit(50 * MB, self.memory_per_sample, measured)

    def available_memory(self):
        return self.available

    def gpu_batch(self, patch, bf16, channels_last, cap):
        fitted = min(self.gpu_fit, cap)
        return fitted, {fitted: "fits", fitted * 2: "out of memory"}

    def lr_test(self, batch, patch, bf16, channels_last, optimizer, loss):
        self.calls.append(("lr_test", batch, optimizer, loss))
        lrs = [1e-7 * 10 ** (8 * k / 99) for k in range(100)]
        curve = LRCurve(lrs, [1.0] * 100, [1.0] * 100, True)
        if self.suggestion is None:
            return curve, LRSuggestion(None, "no usable descent", None, None)
        return curve, LRSuggestion(self.suggestion, "steepest descent", 50, self.suggestion * 10)

    prefer_lower = False
    """Whether the trial at a third of the rate reaches the lower loss."""

    def lr_trials(self, batch, patch, bf16, channels_last, optimizer, loss, rates):
        self.calls.append(("lr_trials", batch, tuple(rates)))
        high, low = rates
        return {high: 1.0 if self.prefer_lower else 0.5, low: 0.6 if self.prefer_lower else 0.9}


def _fingerprint(fractions=(0.6, 0.4)):
    return Fingerprint(
        n_images=10, height={}, width={}, distinct_sizes=1, channels=1, intensity={}, num_classes=len(fractions),
        label_mapping={i: i for i in range(len(fractions))}, class_fractions=list(fractions), empty_mask_share=0.0,
        smallest_class_fraction=min(fractions[1:]),
    )


def _plan(train=None, sizes=((288, 384),) * 10, probes=None, machine=CPU, model=None, fractions=(0.6, 0.4), given=None):
    config = SegtrainConfig.model_validate({"train": train or {}, "model": model or {}})
    return plan_training(config, fingerprint=_fingerprint(fractions), train_sizes=list(sizes),
                         val_sizes=list(sizes[:3]), machine=machine, probes=probes, given=given)


def test_patch_from_median_short_side_and_steps_are_ceiling():
    plan = _plan({"epochs": 4})
    assert plan["patch_size"] == 256  # median short side 288, capped at 256
    assert plan["patches"] == 10 * 2 * 2
    assert plan["batch_size"] == 4  # default 8, capped at 1/8 of 40 patches
    assert plan["steps_per_epoch"] == 10  # ceil(40 / 4)
    assert plan["total_steps"] == 40
    assert plan["samples_seen"] == 4 * 10 * 4


def test_small_images_give_a_patch_that_holds_them_whole():
    plan = _plan({"epochs": 1}, sizes=((100, 120),) * 4)
    assert plan["patch_size"] == 128  # the long side 120 rounded up to a multiple of 2**depth = 16
    assert plan["scale"] == 1.0 and plan["regime"] == "whole image"


def test_large_images_give_the_median_short_side_capped():
    plan = _plan({"epochs": 1, "scale": 1.0}, sizes=((300, 900),) * 4)
    assert plan["patch_size"] == 256  # crops: short side 300 capped at 256 on a CPU
    assert plan["regime"] == "crops"


def test_user_values_override_and_are_marked():
    plan = _plan({"epochs": 2, "batch_size": 4, "lr": 0.1, "patch_size": 64})
    for name in ("epochs", "batch_size", "lr", "patch_size"):
        assert plan.items[name].source == "user"
    assert plan["steps_per_epoch"] == 75  # 10 images x 5 x 6 tiles of 64 = 300 patches; ceil(300 / 4)
    assert plan.items["steps_per_epoch"].source == "planned"
    assert set(plan.to_dict()["overridden"]) == {"epochs", "batch_size", "lr", "patch_size"}


def test_json_has_the_promised_keys_and_arithmetic():
    data = _plan({"epochs": 3, "accumulate": 2}, sizes=((512, 512),) * 30, probes=FakeProbes()).to_dict()
    for key in ("patch_size", "batch_size", "accumulate", "steps_per_epoch", "epochs", "total_steps", "samples_seen",
                "lr", "schedule", "optimizer", "loss", "precision", "patches", "reasons"):
        assert key in data
    assert data["steps_per_epoch"] == math.ceil(data["patches"] / (data["batch_size"] * data["accumulate"]))
    assert data["samples_seen"] == data["batch_size"] * data["accumulate"] * data["steps_per_epoch"] * data["epochs"]
    assert data["iterations"] == data["total_steps"] * 2
    assert set(data["reasons"]) >= {"batch_size", "lr", "schedule", "loss"}


def test_plan_round_trips_through_json():
    plan = _plan({"epochs": 3}, probes=FakeProbes())
    again = TrainingPlan.from_dict(plan.to_dict())
    assert {k: v.value for k, v in again.items.items()} == {k: v.value for k, v in plan.items.items()}


def test_cpu_batch_stops_doubling_when_throughput_stops_rising():
    # step = 0.1 + 0.05 b: patches/s 8 -> 16 rises by 12.5% (< 15%), so 8 is kept
    probes = FakeProbes()
    plan = _plan({"epochs": 1}, sizes=((512, 512),) * 100, probes=probes)
    assert plan["batch_size"] == 8
    assert ("speed", 16, 256, False, False) in probes.calls or ("speed", 16, 256, False, True) in probes.calls
    # a large fixed overhead makes doubling pay until the memory limit: 4096 MB * 0.5 = 2048 MB -> 16 samples
    plan = _plan({"epochs": 1}, sizes=((512, 512),) * 100, probes=FakeProbes(overhead_s=5.0, memory_per_sample=120 * MB))
    assert plan["memory"]["largest_batch"] == 16
    assert plan["batch_size"] == 16


def test_batch_is_capped_by_the_dataset_and_never_below_two():
    plan = _plan({"epochs": 1}, sizes=((256, 256),) * 20, probes=FakeProbes(overhead_s=10.0))
    assert plan["batch_size"] == 2  # 20 patches / 8 = 2.5 -> 2


def test_batch_that_cannot_fit_is_refused_before_training():
    with pytest.raises(UserError, match="--batch-size 64 needs about .* GB"):
        _plan({"epochs": 1, "batch_size": 64}, probes=FakeProbes(available=1024 * MB))
    with pytest.raises(UserError, match="--patch-size 128"):
        _plan({"epochs": 1, "patch_size": 256}, probes=FakeProbes(memory_per_sample=2048 * MB, available=1024 * MB))


def test_planned_patch_is_halved_until_a_batch_of_two_fits():
    class PatchMemory(FakeProbes):
        def memory(self, patch, bf16, channels_last):  # per-sample memory grows with the patch area
            per_sample = 2048 * MB * (patch / 256) ** 2
            return MemoryFit(50 * MB, per_sample, {b: int(50 * MB + per_sample * b) for b in (1, 2, 4)})

    plan = _plan({"epochs": 1}, probes=PatchMemory(available=1024 * MB))
    # 512 MB allowed: 256 -> 2 x 2048 MB, 128 -> 2 x 512 MB, 64 -> 2 x 128 MB + 50 MB fits
    assert plan["patch_size"] == 64 and "halved from 256" in plan.items["patch_size"].reason


def test_gpu_batch_is_the_largest_that_fits():
    plan = _plan({"epochs": 1}, sizes=((512, 512),) * 1000, probes=FakeProbes(gpu_fit=32), machine=GPU)
    assert plan["batch_size"] == 32 and plan["patch_size"] == 512
    with pytest.raises(UserError, match="does not fit on the GPU"):
        _plan({"epochs": 1, "batch_size": 64}, sizes=((512, 512),) * 1000, probes=FakeProbes(gpu_fit=32), machine=GPU)


def test_small_batch_with_batch_norm_warns_about_group_norm():
    assert any("group norm" in w for w in _plan({"epochs": 1, "batch_size": 2}).warnings)
    assert not _plan({"epochs": 1, "batch_size": 2}, model={"norm": "group"}).warnings


def test_bf16_and_channels_last_chosen_by_measurement():
    plan = _plan({"epochs": 1}, probes=FakeProbes(), machine=BF16_CPU)
    assert plan["precision"] == "bf16-mixed" and plan["channels_last"] is True
    assert set(plan["step_seconds_by_variant"]) == {"float32", "float32 channels-last", "bf16", "bf16 channels-last"}
    harmful = _plan({"epochs": 1}, probes=FakeProbes(agreement=(0.2, 0.5)), machine=BF16_CPU)
    assert harmful["precision"] == "32" and harmful["channels_last"] is True
    assert "bf16 not used" in harmful.items["step_seconds_by_variant"].reason


def test_budget_turns_into_epochs_from_measured_step_time():
    probes = FakeProbes()
    plan = _plan({"budget_s": "2m", "batch_size": 4}, probes=probes)
    step_s = (0.1 + 0.05 * 4) * 0.8  # the measured channels-last layout is faster
    assert plan["channels_last"] is True
    val_s = 3 * 4 * 0.01 * 1.3  # 3 images of 2x2 tiles
    assert plan["step_seconds"] == pytest.approx(step_s)
    assert plan["epochs"] == int(120 // (10 * step_s + val_s))
    assert plan["budget_s"] == 120


def test_accumulation_multiplies_the_time_of_a_weight_update():
    plan = _plan({"budget_s": 60, "batch_size": 4, "accumulate": 3}, probes=FakeProbes())
    assert plan["step_seconds"] == pytest.approx(3 * (0.1 + 0.05 * 4) * 0.8)
    assert plan["effective_batch"] == 12


def test_short_budget_reduces_steps_per_epoch_to_validate_several_times():
    plan = _plan({"budget_s": 30}, sizes=((288, 384),) * 200, probes=FakeProbes())
    assert plan["epochs"] >= MIN_VALIDATIONS
    assert plan["steps_per_epoch"] < math.ceil(800 / plan["batch_size"])


def test_default_budget_when_nothing_given():
    assert _plan({}, probes=FakeProbes())["budget_s"] == DEFAULT_BUDGET_S


def test_lr_from_range_test_rescaled_to_the_batch():
    probes = FakeProbes(suggestion=1e-3)
    plan = _plan({"epochs": 1, "batch_size": 16}, sizes=((512, 512),) * 100, probes=probes)
    assert ("lr_test", 4, "adamw", "ce+dice") in probes.calls  # CPU range test at batch 4, with the planned loss
    assert plan["lr"] == pytest.approx(1e-3 * 2)  # square root of 16 / 4
    assert "square-root rule" in plan.items["lr"].reason
    sgd = _plan({"epochs": 1, "batch_size": 16, "optimizer": "sgd"}, sizes=((512, 512),) * 100, probes=FakeProbes(suggestion=1e-3))
    assert sgd["lr"] == pytest.approx(4e-3)  # linear


def test_no_usable_descent_falls_back_to_default_with_reason():
    plan = _plan({"epochs": 1}, probes=FakeProbes(suggestion=None))
    assert plan["lr"] == 2e-3 and "no usable descent" in plan.items["lr"].reason


def test_plan_file_values_are_used_and_rescaled_when_the_batch_changes():
    saved = _plan({"budget_s": 60}, sizes=((512, 512),) * 100, probes=FakeProbes(suggestion=1e-3))
    again = _plan({}, sizes=((512, 512),) * 100, probes=FakeProbes(suggestion=5e-2), given=saved)
    assert again["lr"] == saved["lr"] and again.items["lr"].source == "plan file"
    assert again["budget_s"] == 60 and again["step_seconds"] == saved["step_seconds"]
    bigger = _plan({"batch_size": saved["batch_size"] * 4}, sizes=((512, 512),) * 100, probes=FakeProbes(), given=saved)
    assert bigger["lr"] == pytest.approx(saved["lr"] * 2)


def test_dice_term_always_planned_and_a_rare_class_named():
    rare = _plan({"epochs": 1}, fractions=(0.99, 0.01))
    assert rare["loss"] == "ce+dice" and "1.0% of the pixels (< 2%)" in rare.items["loss"].reason
    balanced = _plan({"epochs": 1}, fractions=(0.6, 0.4))
    assert balanced["loss"] == "ce+dice" and "< 2%" not in balanced.items["loss"].reason
    assert _plan({"epochs": 1, "loss": "dice"}, fractions=(0.6, 0.4))["loss"] == "dice"


def test_lr_trial_keeps_the_steadier_rate_unless_the_higher_wins_clearly():
    probes = FakeProbes(suggestion=3e-3)
    probes.prefer_lower = True
    plan = _plan({"epochs": 1, "batch_size": 4}, probes=probes)
    assert plan["lr"] == pytest.approx(1e-3)  # a third of the suggestion reached the lower loss
    assert plan["lr_check"]["tried"] == {"0.003": 1.0, "0.001": 0.6}
    assert "steadier" in plan.items["lr_check"].reason


@pytest.mark.parametrize("schedule, warmup", [("cosine", 3), ("onecycle", 0), ("plateau", 0), ("poly", 3)])
def test_schedule_choice_and_warmup(schedule, warmup):
    plan = _plan({"epochs": 10, "schedule": schedule, "batch_size": 4})
    assert plan["total_steps"] == 100
    assert plan["warmup_steps"] == warmup
    assert _plan({"epochs": 1})["schedule"] == "cosine"


def test_the_probes_measure_the_network_with_the_planned_stem():
    def measure(scales, patch):
        keys = ["fill", "fill/2", "fit", "fit/2", "1", *(f"{float(s):.4g}" for s in scales if not isinstance(s, str))]
        return Structures(8, [ClassStructure(0.5, 40.0, 60.0, {k: 0.999 for k in keys})] * 2, 0.0, 0.0)

    probes = FakeProbes()
    probes.model_config = SegtrainConfig().model
    config = SegtrainConfig.model_validate({})
    plan = plan_training(config, fingerprint=_fingerprint(), train_sizes=[(480, 640)] * 10, val_sizes=[(480, 640)] * 3,
                         machine=CPU, probes=probes, measure=measure)
    assert plan["scale"] == "fill" and plan["stem"] == "strided"
    assert probes.model_config.stem == "strided" and config.model.stem is None  # the user's config is left as given
    plan = _plan(sizes=((288, 384),) * 10, probes=FakeProbes())  # nothing measured: the first level stays full
    assert plan["stem"] == "full"
