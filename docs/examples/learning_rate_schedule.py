"""segtrain's default learning-rate schedule: linear warm-up, then cosine decay.

Run: python docs/examples/learning_rate_schedule.py (prints its results; used by docs/concepts.md).

segtrain.optim.schedules.Schedule is the multiplier of the peak rate that training applies at
every weight update (through torch's LambdaLR). With W warm-up steps, T planned steps in all
and a final fraction f (train.final_lr_fraction, 0.01):

    step s < W:   (s + 1) / (W + 1)
    step s >= W:  f + (1 - f) * (1 + cos(pi * progress)) / 2,  progress = (s - W) / (T - W)
"""

import math

from segtrain.config import SegtrainConfig
from segtrain.optim.schedules import Schedule

PEAK_LR = 1e-3
train = SegtrainConfig().train
final = train.final_lr_fraction


def by_hand(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / (warmup + 1)
    progress = min(1.0, (step - warmup) / (total - warmup))
    return final + (1 - final) * (1 + math.cos(math.pi * progress)) / 2


for total, warmup, steps in (
    (1000, 30, (0, 1, 14, 29, 30, 31, 100, 250, 515, 750, 900, 999)),
    (350, int(round(350 * train.warmup_fraction)), (0, 9, 10, 180, 349)),
):
    schedule = Schedule("cosine", total, warmup, final)
    print(f"{total} steps, {warmup} warm-up steps, final fraction {final}, peak lr {PEAK_LR:g}:")
    print("  step  multiplier  lr")
    agree = True
    for step in steps:
        m = schedule(step)
        agree = agree and abs(m - by_hand(step, total, warmup)) < 1e-12
        print(f"  {step:<4}  {m:.6f}    {PEAK_LR * m:.4e}")
    every = all(abs(schedule(s) - by_hand(s, total, warmup)) < 1e-12 for s in range(total))
    print(f"  the formula above gives the same multiplier at every step: {agree and every}")
print(f"warm-up of the 350-step plan: round(350 x {train.warmup_fraction}) = round({350 * train.warmup_fraction:g})"
      f" = {int(round(350 * train.warmup_fraction))} (Python rounds halves to the even integer)")
