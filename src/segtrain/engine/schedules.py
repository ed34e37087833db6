"""Learning-rate schedules as short pure functions of the step."""

from __future__ import annotations

import math


def warmup_cosine(step: int, total_steps: int, warmup_steps: int, final_fraction: float = 0.01) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based).

    Rises linearly from ``1 / (warmup_steps + 1)`` to 1 over ``warmup_steps`` steps, then follows
    a half cosine from 1 down to ``final_fraction`` at ``total_steps``, and stays there.
    """
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))


class WarmupCosine:
    """A picklable ``LambdaLR`` multiplier whose ``total_steps`` can be re-planned during training."""

    def __init__(self, total_steps: int, warmup_steps: int, final_fraction: float = 0.01):
        self.total_steps, self.warmup_steps, self.final_fraction = total_steps, warmup_steps, final_fraction

    def __call__(self, step: int) -> float:
        return warmup_cosine(step, self.total_steps, self.warmup_steps, self.final_fraction)
