import pytest
import torch

from segtrain.config import ModelConfig, SegtrainConfig
from segtrain.planning.batch import (
    BatchPlan, MemoryFit, dataset_cap, fit_memory, fit_patch_in_memory, largest_fitting_batch, largest_power_of_two,
    measure_cpu_memory, plan_batch,
)
from segtrain.planning.plan import TrainingPlan
from segtrain.planning.planner import _Planner
from segtrain.runtime.env import Machine


def test_largest_power_of_two():
    assert [largest_power_of_two(x) for x in (0.5, 1, 2, 3, 8, 15.9, 16, 1000)] == [0, 1, 2, 2, 8, 8, 16, 512]


def test_fit_memory_through_the_two_largest_batches():
    fit = fit_memory({1: 150, 2: 300, 4: 500})  # batch 1 carries start-up noise and is left out
    assert fit.per_sample == 100 and fit.fixed == 100
    assert fit.predict(8) == 900
    assert fit.largest_batch(1000) == 8  # (1000 - 100) / 100 = 9 -> 8
    assert fit.largest_batch(150) == 0


def test_dataset_cap_keeps_eight_steps_per_epoch():
    assert dataset_cap(1000) == 64  # 1000 / 8 = 125 -> 64
    assert dataset_cap(80) == 8
    assert dataset_cap(3) == 2  # never below 2


def test_gpu_search_catches_out_of_memory_and_frees_after_every_try():
    events = []

    def try_batch(batch):
        events.append(("try", batch))
        if batch > 16:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return batch / 64

    fitted, tried = largest_fitting_batch(try_batch, cap=512, free=lambda: events.append(("free",)))
    assert fitted == 16
    assert tried == {2: "fits, peak 3% of memory", 4: "fits, peak 6% of memory", 8: "fits, peak 12% of memory",
                     16: "fits, peak 25% of memory", 32: "out of memory"}
    assert events == [e for b in (2, 4, 8, 16, 32) for e in (("try", b), ("free",))]


def test_gpu_search_counts_a_near_full_peak_as_not_fitting_and_respects_the_cap():
    fitted, tried = largest_fitting_batch(lambda b: b / 40, cap=512, free=lambda: None)
    assert fitted == 32 and "above 90%" in tried[64]  # 64 / 40 = 160%
    assert largest_fitting_batch(lambda b: 0.01, cap=8, free=lambda: None)[0] == 8


def test_other_errors_are_not_taken_for_out_of_memory():
    def broken(batch):
        raise ValueError("shapes do not match")

    with pytest.raises(ValueError):
        largest_fitting_batch(broken, cap=8, free=lambda: None)


def test_cpu_memory_is_measured_in_a_fresh_process_and_grows_with_the_batch():
    fit = measure_cpu_memory(1, 2, ModelConfig(depth=2, width=8), patch=128, bf16=False, channels_last=False)
    assert isinstance(fit, MemoryFit)
    assert sorted(fit.measured) == [1, 2, 4]
    assert fit.measured[1] < fit.measured[2] < fit.measured[4]
    # activations of a width-8 depth-2 U-Net at 128x128: tens of float32 maps of 128x128 per sample,
    # so well over 1 MB and well under 1 GB per sample
    assert 2**20 < fit.per_sample < 2**30


def test_batch_plan_multiplies_micro_batch_accumulation_and_processes():
    sizes = BatchPlan(micro=4, accumulate=3, processes=2)
    assert sizes.loader == 12  # what one process's loader hands over per weight update
    assert sizes.effective == 24  # samples behind one weight update


def _batch_plan(train, patches=40, probes=None, machine=Machine("cpu", bf16=False, cores=2, description="test CPU")):
    plan = TrainingPlan()
    config = SegtrainConfig.model_validate({"train": train})
    return plan, plan_batch(_Planner(plan, TrainingPlan()), probes, machine, config, 256, patches, False, False)


def test_unmeasured_batch_is_the_device_default_within_the_dataset_cap():
    plan, sizes = _batch_plan({}, patches=1000)
    assert sizes == BatchPlan(8, 1, 1) and plan["effective_batch"] == 8  # default 8; 1000 / 8 = 125 allows 64
    plan, sizes = _batch_plan({}, patches=40)
    assert sizes.micro == 4  # 40 / 8 = 5 -> 4
    assert plan["accumulate"] == 1 and "processes" not in plan


def test_processes_and_accumulation_enter_the_effective_batch():
    plan, sizes = _batch_plan({"batch_size": 4, "accumulate": 2, "devices": 2, "num_nodes": 3})
    assert sizes == BatchPlan(4, 2, 6)
    assert plan["processes"] == 6 and plan["effective_batch"] == 48
    assert plan.items["effective_batch"].reason == "batch 4 x accumulate 2 x 6 processes: samples per weight update"
    assert any("batch norm sees only 4 samples" in w for w in plan.warnings)


def test_a_planned_patch_is_halved_until_a_batch_of_two_fits():
    class PatchMemory:
        def available_memory(self):
            return 1024 * 2**20  # half of it, 512 MB, may be used

        def memory(self, patch, bf16, channels_last):  # 50 MB + 2 GB per sample at 256, scaling with the area
            return MemoryFit(50 * 2**20, 2048 * 2**20 * (patch / 256) ** 2, {})

    plan = TrainingPlan()
    plan.set("patch_size", 256, "planned")
    # 256: (512 - 50) / 2048 < 1; 128: 462 / 512 < 1; 64: 462 / 128 = 3.6 -> batch 2 fits
    assert fit_patch_in_memory(plan, PatchMemory(), SegtrainConfig(), 256, 16, False, False) == 64
    assert plan["patch_size"] == 64 and "halved from 256 until a batch of 2 fits in the 0.5 GB allowed" in \
        plan.items["patch_size"].reason
