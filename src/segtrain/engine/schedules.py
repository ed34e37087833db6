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
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return cosine(progress, final_fraction)


def cosine(progress: float, final_fraction: float) -> float:
    """Half cosine from 1 at ``progress = 0`` to ``final_fraction`` at ``progress = 1``."""
    return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


class WarmupCosine:
    """A ``LambdaLR`` multiplier: warm-up, then cosine decay over a total that can be re-planned.

    The decay's progress runs linearly from an anchor ``(anchor_step, anchor_progress)`` to 1
    at ``total_steps``. :meth:`replan` moves the anchor to the current step, so a new total
    changes how fast the rest of the decay goes but never makes the rate jump or rise again.
    All state is plain numbers, so it is saved in checkpoints by ``LambdaLR.state_dict``.
    """

    def __init__(self, total_steps: int, warmup_steps: int, final_fraction: float = 0.01):
        self.total_steps, self.warmup_steps, self.final_fraction = total_steps, warmup_steps, final_fraction
        self.anchor_step, self.anchor_progress = warmup_steps, 0.0

    def progress(self, step: int) -> float:
        span = max(1, self.total_steps - self.anchor_step)
        return min(1.0, self.anchor_progress + (step - self.anchor_step) * (1 - self.anchor_progress) / span)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        return cosine(self.progress(step), self.final_fraction)

    def replan(self, step: int, total_steps: int) -> None:
        """Finish the decay at ``total_steps`` instead, continuing from where it is at ``step``."""
        if step >= self.warmup_steps:
            self.anchor_progress, self.anchor_step = self.progress(step), step
        self.total_steps = max(step + 1, total_steps)
