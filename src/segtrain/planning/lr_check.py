"""Checking the range test's learning rate: a cap, then two short trials compared on the loss they reach.

The range test's suggestion (the steepest descent of a smoothed loss while the rate grows) is a
starting point: on noisy curves the steepest point can sit close to where the loss turns up, and a
rate that descends fastest for one step can leave the validation score swinging for a whole run
(issue 15: 8.3e-3 on outdoor photos). So:

1. **cap**: at most :data:`CAP_BELOW_MINIMUM` times below the rate where the smoothed loss was lowest
   (past it the loss no longer falls; a decade below is where it still falls reliably);
2. **trial**: :data:`TRIAL_STEPS` steps from the same initial weights on the same training batches at
   the (capped) suggestion and at a :data:`TRIAL_FACTOR`-th of it; the mean loss of the last half of
   the steps decides. The higher rate is kept only if it reaches a loss at least
   :data:`TRIAL_MARGIN` lower: a rate's instability shows later in a run than in a few steps, so a
   tie goes to the steadier rate.
"""

from __future__ import annotations

import contextlib
import copy
import math
from typing import Any, Callable

CAP_BELOW_MINIMUM = 10.0
TRIAL_STEPS = 16
"""Steps per trial: enough for the loss to leave its starting value at a usable rate, a few seconds on a CPU."""
TRIAL_FACTOR = 3.0
TRIAL_MARGIN = 0.05
TRIAL_WARMUP = 3
"""Steps of linear warm-up at the start of each trial (fresh batch-norm statistics), as training warms up."""


def lr_trial(model: Any, optimizer: Any, batches: list, loss_fn, lr: float,
             autocast: Callable[[], contextlib.AbstractContextManager] | None = None) -> float:
    """The mean training loss over the last half of ``len(batches)`` steps at ``lr`` (inf if it diverges):
    ``model`` a torch module, ``optimizer`` a torch optimizer, ``batches`` ``(images, masks)`` tensors.

    Model and optimizer are restored afterwards, so every trial starts from the same state.
    """
    model_state, optimizer_state = copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())
    context = autocast if autocast is not None else contextlib.nullcontext
    losses: list[float] = []
    try:
        model.train()
        for k, (x, y) in enumerate(batches):
            for group in optimizer.param_groups:
                group["lr"] = lr * min(1.0, (k + 1) / TRIAL_WARMUP)
            with context():
                loss = loss_fn(model(x), y)
            value = float(loss.detach())
            if not math.isfinite(value):
                return math.inf
            losses.append(value)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        model.load_state_dict(model_state)
        optimizer.load_state_dict(optimizer_state)
    tail = losses[len(losses) // 2:]
    return sum(tail) / len(tail) if tail else math.inf


def capped(lr: float, minimum_lr: float | None) -> tuple[float, str]:
    """The suggestion capped a decade below the loss minimum, and what was done."""
    if minimum_lr is not None and lr > minimum_lr / CAP_BELOW_MINIMUM:
        cap = minimum_lr / CAP_BELOW_MINIMUM
        return cap, (f"capped at {cap:.3g}, {CAP_BELOW_MINIMUM:g}x below the loss minimum at {minimum_lr:.3g} "
                     "(the suggestion was closer to where the loss stops falling)")
    return lr, "within a decade of the loss minimum" if minimum_lr is not None else "no loss minimum found"


def choose(lr: float, losses: dict[float, float]) -> tuple[float, str]:
    """The checked rate from the trial losses ``{rate: loss}`` at ``lr`` and ``lr / TRIAL_FACTOR``."""
    low = lr / TRIAL_FACTOR
    high_loss, low_loss = losses[lr], losses[low]
    tried = f"trial of {TRIAL_STEPS} steps: loss {high_loss:.4g} at {lr:.3g}, {low_loss:.4g} at {low:.3g}"
    if high_loss < low_loss * (1 - TRIAL_MARGIN):
        return lr, f"{tried}; the higher rate reached a loss over {TRIAL_MARGIN:.0%} lower, so it is kept"
    return low, (f"{tried}; the higher rate did not reach a loss {TRIAL_MARGIN:.0%} lower, so the steadier "
                 f"{TRIAL_FACTOR:g}x lower rate is used")
