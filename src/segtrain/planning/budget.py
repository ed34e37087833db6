"""The duration of a run: how a budget (or epochs, or max steps) becomes epochs and steps.

A run's length is given one of four ways, in this order of precedence:

- ``--epochs N``: N epochs of ``steps_per_epoch`` weight updates each;
- ``--max-steps S``: S weight updates, ``ceil(S / steps_per_epoch)`` epochs;
- ``--budget 5m``: seconds of wall clock. A weight update takes ``step_s`` (the measured step at
  the planned micro batch, times ``accumulate``), and one validation ``val_s`` (the sliding-window
  tiles over the validation images times the measured forward time of one tile, plus
  :data:`VALIDATION_OVERHEAD`). The budget holds ``int(budget // (steps x step_s + val_s))``
  epochs (:func:`epochs_in_budget`). When that is fewer than :data:`MIN_VALIDATIONS`, a planned
  ``steps_per_epoch`` is cut to ``int((budget / MIN_VALIDATIONS - val_s) / step_s)``
  (:func:`steps_for_validations`), so the best checkpoint is chosen among several validations;
- nothing: a :data:`DEFAULT_BUDGET_S` budget when step times can be measured, else
  :data:`DEFAULT_EPOCHS` epochs.

A saved plan made with ``--epochs`` or ``--max-steps`` keeps that duration (:func:`duration_from_file`);
one made with a budget keeps its budget and, for the same batch, patch and precision, its step
and validation times. From the epochs follow ``total_steps`` (weight updates), ``iterations``
(forward passes: x accumulate) and ``samples_seen`` (:func:`plan_duration`).

A finished run extended by ``train --resume`` with ``--epochs``, ``--budget`` or ``--max-steps``
gets its new total from :func:`extend_duration`: a budget adds ``int(budget / step_s)`` steps
(:func:`steps_in_budget`) at the run's planned step time.
"""

from __future__ import annotations

import math
from typing import Any

from segtrain.config.schema import SegtrainConfig, parse_duration
from segtrain.errors import UserError
from segtrain.planning.arithmetic import samples_seen, sliding_tiles, steps_per_epoch
from segtrain.planning.batch import BatchPlan

DEFAULT_BUDGET_S = 600.0
"""Budget when neither epochs, steps nor a budget is given: ten minutes."""
DEFAULT_EPOCHS = 50
MIN_VALIDATIONS = 3
"""A budget run validates at least this often, so the best checkpoint is chosen among several."""
VALIDATION_OVERHEAD = 1.3
"""Reading, padding and blending add about 30% to the measured forward time of the tiles."""
UNMEASURED_STEP_S = 1.0
"""Seconds per weight update assumed when a run being extended by a budget has no measured step time."""


def epochs_in_budget(budget_s: float, steps: int, step_s: float, val_s: float) -> int:
    """Whole epochs (training plus one validation each) that fit in ``budget_s`` seconds (at least 1)."""
    return max(1, int(budget_s // (steps * step_s + val_s)))


def steps_for_validations(budget_s: float, step_s: float, val_s: float, validations: int = MIN_VALIDATIONS) -> int:
    """Steps per epoch with which ``validations`` epochs fit in ``budget_s`` (at least 1)."""
    return max(1, int((budget_s / validations - val_s) / step_s))


def steps_in_budget(budget_s: float, step_s: float) -> int:
    """Weight updates of ``step_s`` seconds that fit in ``budget_s`` (validation is not counted)."""
    return int(budget_s / step_s)


def validation_tiles(val_sizes: list[tuple[int, int]], patch: int, overlap: float) -> int:
    """Sliding-window tiles of ``patch`` over all validation images (as MONAI places them)."""
    return sum(sliding_tiles(h, patch, overlap) * sliding_tiles(w, patch, overlap) for h, w in val_sizes)


def duration_from_file(config: SegtrainConfig, given) -> SegtrainConfig:
    """A saved plan made with ``--epochs`` or ``--max-steps`` keeps that duration unless the user gives one now."""
    train = config.train
    if given is None or train.epochs is not None or train.max_steps is not None or train.budget_s is not None:
        return config
    for name in ("max_steps", "epochs"):
        item = given.items.get(name)
        if item is not None and item.source == "user" and item.value is not None:
            config = config.model_copy(deep=True)
            setattr(config.train, name, item.value)
            return config
    return config


def plan_duration(p, probes, config: SegtrainConfig, sizes: BatchPlan, patches: int, patch: int, bf16: bool,
                  channels_last: bool, val_sizes: list[tuple[int, int]]) -> int:
    """Choose steps per epoch, budget and epochs; state total steps, iterations and samples seen.

    ``p`` is the planner's chooser (user, else saved plan, else planned); returns the total steps.
    """
    train, plan = config.train, p.plan
    effective = sizes.effective
    steps = p.choose("steps_per_epoch", train.steps_per_epoch, lambda: (
        steps_per_epoch(patches, effective),
        f"ceil({patches} patches / effective batch {effective}): one pass over the training patches"))
    budget = _budget(p, train)
    timed = probes is not None or "step_seconds" in p.given
    if budget is not None and train.epochs is None and train.max_steps is None and timed:
        step_s, val_s = _step_and_validation_seconds(p, probes, sizes, patch, bf16, channels_last,
                                                     validation_tiles(val_sizes, patch, train.val_overlap), len(val_sizes))
        if plan.items["steps_per_epoch"].source == "planned" and epochs_in_budget(budget, steps, step_s, val_s) < MIN_VALIDATIONS:
            fitted = steps_for_validations(budget, step_s, val_s)
            if fitted < steps:
                steps = fitted
                plan.set("steps_per_epoch", steps, f"reduced from ceil({patches} / {effective}) so that validation "
                                                   f"runs at least {MIN_VALIDATIONS} times in the budget")
        epochs = epochs_in_budget(budget, steps, step_s, val_s)
        plan.set("epochs", epochs, f"estimate: budget {budget:.0f} s / ({steps} steps x {step_s:.3f} s + {val_s:.1f} s "
                                   "validation); training stops when the budget is spent")
    elif train.max_steps is not None:
        epochs = max(1, math.ceil(train.max_steps / steps))
        plan.set("epochs", epochs, f"ceil(max_steps {train.max_steps} / {steps} steps per epoch)")
    else:
        epochs = p.choose("epochs", train.epochs, lambda: (DEFAULT_EPOCHS, "default when nothing is measured"))
    return _totals(plan, train, sizes, steps, epochs)


def _budget(p, train) -> float | None:
    """The budget in seconds: the user's, the saved plan's (when no epochs or steps are given), or the default."""
    budget = train.budget_s
    if budget is not None:
        p.plan.set("budget_s", budget, "given by the user", "user")
    elif "budget_s" in p.given and p.given["budget_s"] is not None and train.epochs is None and train.max_steps is None:
        budget = p.choose("budget_s", None, lambda: (None, ""))
    elif train.epochs is None and train.max_steps is None:
        budget = DEFAULT_BUDGET_S
        p.plan.set("budget_s", budget, "no epochs, steps or budget given: a ten-minute budget")
    return budget


def _step_and_validation_seconds(p, probes, sizes: BatchPlan, patch, bf16, channels_last, val_tiles, n_val):
    """Seconds of one weight update and of one validation: the saved plan's if made alike, else measured."""
    plan, given = p.plan, p.given
    batch, accumulate = sizes.micro, sizes.accumulate
    same = all(name in given and given.items[name].value == value for name, value in (
        ("batch_size", batch), ("patch_size", patch), ("precision", plan["precision"]), ("accumulate", accumulate)))
    if same and "step_seconds" in given and "validation_seconds" in given:
        step_s, val_s = given["step_seconds"], given["validation_seconds"]
        plan.set("step_seconds", step_s, given.items["step_seconds"].reason, "plan file")
        plan.set("validation_seconds", val_s, given.items["validation_seconds"].reason, "plan file")
        return step_s, val_s
    micro_s, tile_s = probes.speed(batch, patch, bf16, channels_last)
    step_s = micro_s * accumulate
    val_s = val_tiles * tile_s * VALIDATION_OVERHEAD
    plan.set("step_seconds", round(step_s, 4), f"measured: median training step of {batch}x{patch}x{patch}"
                                               + (f" x {accumulate} micro-batches" if accumulate > 1 else ""))
    plan.set("validation_seconds", round(val_s, 2), f"{val_tiles} tiles over the {n_val} validation images, "
                                                    f"measured forward time + {VALIDATION_OVERHEAD - 1:.0%} for reading and blending")
    return step_s, val_s


def _totals(plan, train, sizes: BatchPlan, steps: int, epochs: int) -> int:
    """State total steps (weight updates), iterations (forward passes) and samples seen; returns the total."""
    batch, accumulate, processes = sizes.micro, sizes.accumulate, sizes.processes
    total = train.max_steps if train.max_steps is not None else steps * epochs
    plan.set("total_steps", total, "weight updates: " + (
        "max_steps given by the user" if train.max_steps is not None else f"{steps} steps per epoch x {epochs} epochs"))
    plan.set("iterations", total * accumulate, f"forward passes: {total} weight updates x accumulate {accumulate}")
    seen = samples_seen(batch, accumulate * processes, steps, epochs) if train.max_steps is None else sizes.effective * total
    plan.set("samples_seen", seen, f"patches shown: batch {batch} x accumulate {accumulate} x "
             + (f"{processes} processes x " if processes > 1 else "") + f"{steps} steps per epoch x {epochs} epochs")
    return total


def extend_duration(plan, given: dict[str, Any], step: int, where) -> dict[str, Any]:
    """Apply ``--epochs`` / ``--budget`` / ``--max-steps`` to the plan of a run resumed at ``step``.

    ``given`` holds the options given (``epochs``, ``budget`` as typed, ``max_steps``); ``where``
    names the run in refusals (its folder). Returns the run's new ``{"epochs", "budget_s",
    "max_steps"}`` (None where not given) and sets ``epochs``, ``total_steps`` and ``budget_s``
    in ``plan``: a budget adds ``int(budget / step_seconds)`` steps to ``step``.
    """
    steps_per_epoch = int(plan["steps_per_epoch"])
    done_epochs = step // steps_per_epoch
    extend = {"epochs": None, "budget_s": None, "max_steps": None}
    if "epochs" in given:
        epochs = int(given["epochs"])
        if epochs <= done_epochs:
            raise UserError(f"--epochs {epochs}: {where} has already trained {done_epochs} epochs; "
                            f"give more than {done_epochs}")
        extend["epochs"] = epochs
        plan.set("epochs", epochs, f"extended by --resume (was {plan['epochs']})", "user")
        plan.set("total_steps", epochs * steps_per_epoch, "epochs x steps per epoch", "user")
    if "budget" not in given and plan.get("budget_s") is not None:
        plan.set("budget_s", None, "replaced by --epochs / --max-steps on --resume", "user")
    if "max_steps" in given:
        extend["max_steps"] = int(given["max_steps"])
        if extend["max_steps"] <= step:
            raise UserError(f"--max-steps {extend['max_steps']}: {where} is already at step {step}")
        plan.set("total_steps", extend["max_steps"], "extended by --resume", "user")
    if "budget" in given:
        try:
            budget = parse_duration(given["budget"])
        except ValueError as exc:
            raise UserError(f"--budget: {exc}") from None
        extend["budget_s"] = budget
        plan.set("budget_s", budget, "extended by --resume: more training time", "user")
        step_s = float(plan.get("step_seconds") or UNMEASURED_STEP_S)
        plan.set("total_steps", step + steps_in_budget(budget, step_s),
                 "estimated from the budget; re-planned while training", "user")
        if "epochs" not in given:
            plan.set("epochs", -1, "until the budget is used", "user")
    return extend
