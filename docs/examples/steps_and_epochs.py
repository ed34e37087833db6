"""The arithmetic of a run: split, patches, steps per epoch, weight updates and samples seen.

Run: python docs/examples/steps_and_epochs.py (prints its results; used by docs/concepts.md).

The example: 200 images of 256x256, split 70/15/15, so 140 training images; patch 128, batch 8,
gradient accumulation 2, 10 epochs. The numbers come from segtrain's own functions, and at the
end from segtrain's planner given the same settings.
"""

from segtrain.config import SegtrainConfig
from segtrain.data.fingerprint import Fingerprint
from segtrain.data.loaders.patches import count_patches, tiles_per_image
from segtrain.data.split import random_split
from segtrain.planning.arithmetic import samples_seen, steps_per_epoch
from segtrain.planning.planner import plan_training
from segtrain.runtime.env import Machine

SIZE, PATCH, BATCH, ACCUMULATE, EPOCHS = 256, 128, 8, 2, 10

config = SegtrainConfig()
split = random_split([f"img_{k:03d}" for k in range(200)], config.data.val_fraction,
                     config.data.test_fraction, seed=0)
print(f"split of 200 images (val_fraction {config.data.val_fraction}, test_fraction {config.data.test_fraction}): "
      + ", ".join(f"{name} {len(stems)}" for name, stems in split.items()))

sizes = [(SIZE, SIZE)] * len(split["train"])
patches = count_patches(sizes, PATCH)
print(f"patches: {tiles_per_image(SIZE, SIZE, PATCH)} tiles of {PATCH}x{PATCH} per {SIZE}x{SIZE} image "
      f"x {len(sizes)} images = {patches}")
effective = BATCH * ACCUMULATE
steps = steps_per_epoch(patches, effective)
updates = steps * EPOCHS
seen = samples_seen(BATCH, ACCUMULATE, steps, EPOCHS)
print(f"effective batch: batch {BATCH} x accumulate {ACCUMULATE} = {effective}")
print(f"steps per epoch (weight updates): ceil({patches} / {effective}) = {steps}")
print(f"forward/backward passes per epoch: {steps} x {ACCUMULATE} = {steps * ACCUMULATE}")
print(f"weight updates in {EPOCHS} epochs: {steps} x {EPOCHS} = {updates}")
print(f"forward/backward passes in {EPOCHS} epochs: {updates} x {ACCUMULATE} = {updates * ACCUMULATE}")
print(f"samples seen: {BATCH} x {ACCUMULATE} x {steps} x {EPOCHS} = {seen} = {seen // patches} x {patches} patches")
print(f"if the accumulation is forgotten: ceil({patches} / {BATCH}) = {steps_per_epoch(patches, BATCH)} "
      f"steps per epoch, {steps_per_epoch(patches, BATCH) // steps} times the real number")
full, rest = divmod(600, 16)
print(f"when the batch does not divide the patches: ceil(600 / 16) = {steps_per_epoch(600, 16)} "
      f"({full} full steps and one of {rest})")
print(f"a run of batch 16, 200 steps per epoch, 50 epochs, no accumulation: "
      f"{samples_seen(16, 1, 200, 50)} samples seen")

fingerprint = Fingerprint(
    n_images=len(sizes), height={"median": SIZE}, width={"median": SIZE}, distinct_sizes=1, channels=1,
    intensity={}, num_classes=2, label_mapping={0: 0, 1: 1}, class_fractions=[0.6, 0.4],
    empty_mask_share=0.0, smallest_class_fraction=0.4,
)
train = {"patch_size": PATCH, "batch_size": BATCH, "accumulate": ACCUMULATE, "epochs": EPOCHS, "lr": 1e-3}
plan = plan_training(SegtrainConfig.model_validate({"train": train}), fingerprint=fingerprint,
                     train_sizes=sizes, val_sizes=[(SIZE, SIZE)] * len(split["val"]),
                     machine=Machine("cpu", bf16=False, cores=2, description="any CPU"))
print("segtrain's planner with the same settings:")
for name in ("patches", "effective_batch", "steps_per_epoch", "epochs", "total_steps", "iterations",
             "samples_seen", "warmup_steps"):
    print(f"  {name} = {plan[name]}")
