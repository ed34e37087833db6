"""Learning-rate schedules: a linear warm-up, then a shape over the run's progress.

Every schedule here is a multiplier of the configured learning rate, which is the initial
rate (``constant``, ``step``, ``exponential``, ``poly``) or the peak rate (``cosine``,
``onecycle``, and every schedule during its warm-up). After ``warmup_steps`` the multiplier
is ``shape(progress)`` with ``progress`` running from 0 to 1 over the remaining planned steps:

============  =====================================================================
constant      1
step          1, then x0.1 at 50% and again at 75% of the steps (0.01 at the end)
exponential   ``final ** progress``: a constant factor per step, ``final`` at the end
poly          ``(1 - progress) ** 0.9`` (nnU-Net's polynomial decay), 0 at the end
cosine        half cosine from 1 to ``final``
onecycle      cosine rise from 1/25 to 1 over the first 30%, cosine fall to 1/(25e4)
              (Smith & Topin 2017; the defaults of ``torch.optim.lr_scheduler.OneCycleLR``)
plateau       1; the rate is halved by ``ReduceLROnPlateau`` when validation stalls
============  =====================================================================

Under a wall-clock budget the total number of steps is an estimate that is corrected while
training runs: :meth:`Schedule.replan` changes the total without making the rate jump.
"""

from __future__ import annotations

import math

SCHEDULES = ("constant", "step", "exponential", "poly", "cosine", "onecycle", "plateau")
ONECYCLE_PCT, ONECYCLE_DIV, ONECYCLE_FINAL_DIV = 0.3, 25.0, 1e4
POLY_EXPONENT = 0.9
STEP_MILESTONES = (0.5, 0.75)
STEP_FACTOR = 0.1


def cosine(progress: float, final_fraction: float) -> float:
    """Half cosine from 1 at ``progress = 0`` to ``final_fraction`` at ``progress = 1``."""
    return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _cos_between(start: float, end: float, t: float) -> float:
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * t))


def shape(name: str, progress: float, final_fraction: float = 0.01) -> float:
    """Multiplier of the schedule ``name`` at ``progress`` in [0, 1] (clipped)."""
    p = min(1.0, max(0.0, progress))
    if name in ("constant", "plateau"):
        return 1.0
    if name == "step":
        return STEP_FACTOR ** sum(p >= m for m in STEP_MILESTONES)
    if name == "exponential":
        return max(final_fraction, 1e-4) ** p
    if name == "poly":
        return (1 - p) ** POLY_EXPONENT
    if name == "cosine":
        return cosine(p, final_fraction)
    if name == "onecycle":
        low, final = 1 / ONECYCLE_DIV, 1 / (ONECYCLE_DIV * ONECYCLE_FINAL_DIV)
        if p < ONECYCLE_PCT:
            return _cos_between(low, 1.0, p / ONECYCLE_PCT)
        return _cos_between(1.0, final, (p - ONECYCLE_PCT) / (1 - ONECYCLE_PCT))
    raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")


def describe(name: str, warmup_steps: int, final_fraction: float) -> str:
    """The schedule's shape in words, as the plan prints it."""
    warm = f"linear warm-up over {warmup_steps} steps, then " if warmup_steps and name != "onecycle" else ""
    return warm + {
        "constant": "a constant rate",
        "step": "x0.1 at 50% and at 75% of the steps",
        "exponential": f"exponential decay to {final_fraction:g} x lr",
        "poly": f"polynomial decay (1 - progress)^{POLY_EXPONENT} to 0",
        "cosine": f"cosine decay to {final_fraction:g} x lr",
        "onecycle": "one cycle: rise from lr/25 over 30% of the steps, then fall to lr/25e4",
        "plateau": "constant, halved when the validation loss stops falling",
    }[name]


def warmup_cosine(step: int, total_steps: int, warmup_steps: int, final_fraction: float = 0.01) -> float:
    """Multiplier at ``step`` (0-based) of linear warm-up then cosine decay (no re-planning)."""
    return Schedule("cosine", total_steps, warmup_steps, final_fraction)(step)


class Schedule:
    """A ``LambdaLR`` multiplier: warm-up, then ``shape`` over a total that can be re-planned.

    The warm-up rises linearly from ``1 / (warmup_steps + 1)`` to 1 (``onecycle`` has its own
    rise and no separate warm-up). The shape's progress runs linearly from an anchor
    ``(anchor_step, anchor_progress)`` to 1 at ``total_steps``. :meth:`replan` moves the anchor
    to the current step, so a new total changes how fast the rest of the schedule goes but the
    rate never jumps. All state is plain numbers, saved in checkpoints by ``LambdaLR.state_dict``.
    """

    def __init__(self, name: str, total_steps: int, warmup_steps: int = 0, final_fraction: float = 0.01):
        shape(name, 0.0)  # validates the name
        self.name, self.total_steps, self.final_fraction = name, total_steps, final_fraction
        self.warmup_steps = 0 if name == "onecycle" else warmup_steps
        self.anchor_step, self.anchor_progress = self.warmup_steps, 0.0

    def progress(self, step: int) -> float:
        span = max(1, self.total_steps - self.anchor_step)
        return min(1.0, self.anchor_progress + (step - self.anchor_step) * (1 - self.anchor_progress) / span)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        return shape(self.name, self.progress(step), self.final_fraction)

    def replan(self, step: int, total_steps: int) -> None:
        """Finish the schedule at ``total_steps`` instead, continuing from where it is at ``step``."""
        if step >= self.warmup_steps:
            self.anchor_progress, self.anchor_step = self.progress(step), step
        self.total_steps = max(step + 1, total_steps)
