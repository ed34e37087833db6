"""How segtrain reads a learning rate off a range-test curve (segtrain.planning.lr_finder).

Run: python docs/examples/lr_range_test.py (prints its results; used by docs/concepts.md).

The range test trains for 100 steps while the learning rate grows exponentially from 1e-7 to
10, recording the loss at each step. Here the curves are synthetic, so the right answer is
known: the loss falls fastest (in log lr) at lr = 1e-3 and blows up past about 2e-2.
suggest_lr is the function the planner applies to a real curve.
"""

import math

import numpy as np

from segtrain.planning.arithmetic import rescale_lr
from segtrain.planning.lr_finder import lr_schedule, suggest_lr

lrs = np.array(lr_schedule(1e-7, 10.0, 100))
print(f"range test: 100 rates from {lrs[0]:g} to {lrs[-1]:g}, each {lrs[1] / lrs[0]:.4f} x the one before "
      f"({math.log(10) / math.log(lrs[1] / lrs[0]):.2f} steps per decade)")
print("  steps 0, 25, 50, 75, 99: " + ", ".join(f"{lrs[k]:.2e}" for k in (0, 25, 50, 75, 99)))


def synthetic(centre: float, blow_up: float) -> np.ndarray:
    """Loss 0.7 falling to 0.25, fastest at lr = centre, plus a term that explodes past blow_up."""
    x = np.log10(lrs)
    return 0.25 + 0.45 / (1 + np.exp(2.5 * (x - math.log10(centre)))) + 0.05 * np.exp(3 * (x - math.log10(blow_up)))


rng = np.random.default_rng(0)
clean = synthetic(1e-3, 5e-2)
noisy = clean * (1 + 0.03 * rng.standard_normal(clean.size))
diverged = noisy.copy()
diverged[90:] = np.nan  # the test stops at the first non-finite loss
flat = 0.69 + 0.001 * rng.standard_normal(clean.size)  # never learns at any rate

print(f"grid rates nearest the fastest fall: step 49 {lrs[49]:.2e}, step 50 {lrs[50]:.2e}")
print(f"raw minimum of the clean curve: lr {lrs[np.argmin(clean)]:.2e}")
print("  curve                      suggested lr  minimum of the smoothed loss  index")
for name, losses in (("clean, fastest fall 1e-3", clean), ("3% noise", noisy), ("3% noise, NaN from step 90", diverged),
                     ("flat", flat)):
    s = suggest_lr(lrs, losses)
    lr = "none" if s.lr is None else f"{s.lr:.2e}"
    low = "none" if s.minimum_lr is None else f"{s.minimum_lr:.2e}"
    print(f"  {name:<26} {lr:<13} {low:<29} {s.index}")

found = suggest_lr(lrs, clean).lr
print(f"rescaled from the test's batch 4 to an effective batch of 16: AdamW (square root) "
      f"{rescale_lr(found, 4, 16, 'adamw'):.2e}, SGD (linear) {rescale_lr(found, 4, 16, 'sgd'):.2e}")
