"""segtrain's planner on a described dataset and machine, with the measurements given as formulas.

Run: python docs/examples/plan_decisions.py (prints its results; used by docs/planner.md).

`segtrain plan DATA` measures this machine with real training steps (MachineProbes: step times,
bfloat16 agreement, peak memory in a fresh process, the learning-rate range test), which takes a
minute. plan_training, the function that turns the measurements into the plan, only sees an
object with those five questions, so here a stand-in answers them from stated formulas. Every
rule and every line below is segtrain's own.

The dataset: 120 training and 25 validation images of 480x640 pixels, gray, two classes, the
foreground covering 7% of the pixels. The machine: a 2-core CPU with bfloat16 in hardware and
8 GB of memory available.
"""

import math
from dataclasses import dataclass

from segtrain.config import SegtrainConfig
from segtrain.data.fingerprint import Fingerprint
from segtrain.data.loaders.patches import count_patches, tiles_per_image
from segtrain.planning.arithmetic import sliding_tiles, steps_per_epoch
from segtrain.planning.batch import MemoryFit, dataset_cap
from segtrain.planning.budget import MIN_VALIDATIONS, VALIDATION_OVERHEAD, epochs_in_budget
from segtrain.planning.planner import plan_training
from segtrain.runtime.env import Machine

MB = 2**20
H, W, N_TRAIN, N_VAL = 480, 640, 120, 25


class StandInProbes:
    """Answers the planner's questions from formulas instead of measurements.

    - a float32 training step of batch b: 0.2 + 0.11 b seconds; bfloat16 x 0.7, channels-last x 0.9;
    - forward pass of one validation tile: 0.05 s;
    - bfloat16 changes the loss by 0.2% and the gradient direction by cosine 0.998;
    - peak memory: 300 MB + 150 MB per sample (patch 256); 8 GB available;
    - range test: suggests lr 1e-3 (whatever the batch); its loss is lowest at 3.8e-2.
    """

    def speed(self, batch, patch, bf16, channels_last):
        factor = (0.7 if bf16 else 1.0) * (0.9 if channels_last else 1.0)
        return (0.2 + 0.11 * batch) * factor, 0.05

    def agreement(self, batch, patch):
        return 0.002, 0.998

    def memory(self, patch, bf16, channels_last):
        return MemoryFit(300 * MB, 150 * MB, {b: 300 * MB + 150 * MB * b for b in (1, 2, 4)})

    def available_memory(self):
        return 8192 * MB

    def gpu_batch(self, patch, bf16, channels_last, cap):
        raise AssertionError("not called on a CPU")

    def lr_test(self, batch, patch, bf16, channels_last, optimizer, loss):
        lrs = [1e-7 * 1e8 ** (k / 99) for k in range(100)]
        return RangeTest(lrs), Suggestion(1e-3, 3.8e-2, "stand-in: steepest descent at 1e-03, minimum at 3.8e-02")

    def lr_trials(self, batch, patch, bf16, channels_last, optimizer, loss, rates):
        high, low = rates  # stand-in: the suggestion reaches the lower loss in its short trial
        return {high: 0.42, low: 0.51}


@dataclass
class RangeTest:
    """What the planner reads of a range-test curve (segtrain.planning.lr_finder.LRCurve)."""

    lrs: list
    diverged: bool = False


@dataclass
class Suggestion:
    """What the planner reads of suggest_lr's answer (segtrain.planning.lr_finder.LRSuggestion)."""

    lr: float
    minimum_lr: float
    reason: str


fingerprint = Fingerprint(
    n_images=N_TRAIN, height={"min": H, "median": H, "max": H}, width={"min": W, "median": W, "max": W},
    distinct_sizes=1, channels=1, intensity={}, num_classes=2, label_mapping={0: 0, 1: 1},
    class_fractions=[0.93, 0.07], empty_mask_share=0.0, smallest_class_fraction=0.07,
)
machine = Machine("cpu", bf16=True, cores=2, description="CPU, 2 cores, bfloat16 in hardware")


def plan(**train):
    config = SegtrainConfig.model_validate({"train": train})
    return plan_training(config, fingerprint=fingerprint, train_sizes=[(H, W)] * N_TRAIN,
                         val_sizes=[(H, W)] * N_VAL, machine=machine, probes=StandInProbes())


print("=== segtrain plan DATA --budget 5m")
planned = plan(budget_s="5m")
print(planned.format())
for warning in planned.warnings:
    print(f"warning: {warning}")

print()
print("=== the patches and the batch rule, step by step")
print(f"patches: ceil({H} / 256) x ceil({W} / 256) = {tiles_per_image(H, W, 256)} per image x {N_TRAIN} images "
      f"= {count_patches([(H, W)] * N_TRAIN, 256)}")
fit = StandInProbes().memory(256, True, True)
allowed = 8192 * MB * SegtrainConfig().train.memory_fraction
print(f"memory: largest power of two with 300 MB + 150 MB x b <= {allowed / MB:.0f} MB: "
      f"{fit.largest_batch(allowed)} ((4096 - 300) / 150 = {(allowed / MB - 300) / 150:.1f})")
print(f"dataset: at most 1/8 of the {planned['patches']} patches: {planned['patches'] / 8:g} -> "
      f"{dataset_cap(planned['patches'])}")
for b in (8, 16):
    seconds = StandInProbes().speed(b, 256, True, True)[0]
    print(f"batch {b:>2}: step {seconds:.3f} s, {b / seconds:.2f} patches/s")
s8, s16 = (StandInProbes().speed(b, 256, True, True)[0] for b in (8, 16))
print(f"doubling 8 -> 16 raises patches/s by {(16 / s16) / (8 / s8) - 1:.1%}, less than 15%: batch 8")

print()
print("=== segtrain plan DATA --budget 2m: the budget, step by step")
short = plan(budget_s="2m")
step_s, tile_s = StandInProbes().speed(8, 256, True, True)[0], StandInProbes().speed(8, 256, True, True)[1]
tiles = N_VAL * sliding_tiles(H, 256, 0.25) * sliding_tiles(W, 256, 0.25)
val_s = tiles * tile_s * VALIDATION_OVERHEAD
full = steps_per_epoch(short["patches"], 8)
print(f"validation: {N_VAL} images x {tiles // N_VAL} tiles x {tile_s} s x {VALIDATION_OVERHEAD} = {val_s:.2f} s")
print(f"one epoch of {full} steps: {full} x {step_s:.4f} s + {val_s:.2f} s = {full * step_s + val_s:.1f} s; "
      f"120 s hold {epochs_in_budget(120, full, step_s, val_s)}, fewer than {MIN_VALIDATIONS} validations")
fitted = int((120 / MIN_VALIDATIONS - val_s) / step_s)
print(f"steps per epoch for {MIN_VALIDATIONS} validations: int((120 / {MIN_VALIDATIONS} - {val_s:.2f}) / {step_s:.4f}) "
      f"= {fitted}; epochs: int(120 / ({fitted} x {step_s:.4f} + {val_s:.2f})) = "
      f"{epochs_in_budget(120, fitted, step_s, val_s)}")
for name in ("steps_per_epoch", "epochs", "total_steps", "warmup_steps"):
    item = short.items[name]
    print(f"  plan: {name} = {item.value}: {item.reason}")

print()
print("=== segtrain plan DATA --epochs 10 --batch-size 16 --accumulate 2 --lr 3e-4 --schedule onecycle "
      "--loss dice+focal")
given = plan(epochs=10, batch_size=16, accumulate=2, lr=3e-4, schedule="onecycle", loss="dice+focal")
print(given.format())
print("overridden: " + ", ".join(given.to_dict()["overridden"]))

print()
print("=== segtrain plan DATA --max-steps 500 --optimizer sgd")
steps_plan = plan(max_steps=500, optimizer="sgd")
for name in ("batch_size", "steps_per_epoch", "epochs", "total_steps", "lr", "warmup_steps"):
    item = steps_plan.items[name]
    value = f"{item.value:.4g}" if isinstance(item.value, float) else item.value
    print(f"  {name} = {value}: {item.reason}")

print()
print("=== segtrain plan DATA --epochs 10 --no-lr-find")
item = plan(epochs=10, lr_find=False).items["lr"]
print(f"  lr = {item.value:g}: {item.reason}")
