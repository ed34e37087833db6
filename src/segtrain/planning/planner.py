"""The training plan: every number of a run, where it came from, and why.

Each value is either the user's (``source="user"``) or planned from the data and the
machine with the rule stated in its reason. The plan is printed before training and saved
as ``plan.json``.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from segtrain.config.schema import SegtrainConfig
from segtrain.planning.arithmetic import epochs_in_budget, images_seen, sliding_tiles, steps_per_epoch

PATCH_CAP_CPU = 256
"""Largest planned patch on a CPU: bigger patches make each step slower than the context they add is worth."""
PATCH_CAP_GPU = 512
BATCH_CPU = 8
"""Batch on a CPU: large enough for batch-norm statistics (8 samples), small enough for many steps per minute."""
BATCH_GPU = 16
LR_ADAMW = 2e-3
"""AdamW learning rate for a U-Net trained from scratch with batch norm (the range test comes later)."""
DEFAULT_BUDGET_S = 600.0
"""Budget when neither epochs, steps nor a budget is given: ten minutes."""
MIN_VALIDATIONS = 3
"""A budget run validates at least this often, so the best checkpoint is chosen among several."""


@dataclass
class PlanItem:
    value: Any
    reason: str
    source: str = "planned"  # "planned" or "user"


@dataclass
class TrainingPlan:
    """Planned values by name (ordered as they should be read)."""

    items: dict[str, PlanItem] = field(default_factory=dict)

    def set(self, name: str, value: Any, reason: str, source: str = "planned") -> None:
        self.items[name] = PlanItem(value, reason, source)

    def __getitem__(self, name: str) -> Any:
        return self.items[name].value

    def get(self, name: str, default: Any = None) -> Any:
        return self.items[name].value if name in self.items else default

    def to_dict(self) -> dict[str, Any]:
        return {name: asdict(item) for name, item in self.items.items()}


def _choose(plan: TrainingPlan, name: str, user_value: Any, planned_value: Any, reason: str) -> Any:
    if user_value is not None:
        plan.set(name, user_value, "given by the user (overrides the plan)", "user")
        return user_value
    plan.set(name, planned_value, reason)
    return planned_value


def plan_training(
    config: SegtrainConfig,
    *,
    in_channels: int,
    num_classes: int,
    train_sizes: list[tuple[int, int]],
    val_sizes: list[tuple[int, int]],
    machine,
    timer=None,
) -> TrainingPlan:
    """Plan patch, batch, steps, epochs, learning rate and schedule for a run.

    ``timer(batch_size, patch, bf16, channels_last) -> (step_s, tile_s)`` measures step times;
    it is called only when a budget has to be turned into epochs.
    """
    train = config.train
    plan = TrainingPlan()
    multiple = 2**config.model.depth
    cpu = machine.accelerator == "cpu"
    plan.set("device", machine.accelerator, machine.description)

    bf16 = machine.bf16 if train.precision == "auto" else train.precision == "bf16-mixed"
    precision = "bf16-mixed" if bf16 else ("32" if train.precision == "auto" else train.precision)
    _choose(
        plan, "precision", None if train.precision == "auto" else train.precision, precision,
        "bfloat16 autocast: the hardware computes bf16 natively (about 2x faster steps here)"
        if bf16 else "float32: no fast bfloat16 on this device",
    )
    _choose(
        plan, "channels_last", train.channels_last, bool(bf16 and cpu),
        "channels-last memory layout speeds up bf16 convolutions on this CPU" if bf16 and cpu
        else "default memory layout",
    )
    workers = 0 if machine.cores <= 2 else min(4, machine.cores - 1)
    _choose(
        plan, "num_workers", train.num_workers, workers,
        "loading in the main process: with 2 cores a worker would compete with the training step"
        if workers == 0 else f"{workers} loader processes, leaving a core for the training step",
    )

    short_sides = [min(h, w) for h, w in train_sizes]
    median_short = int(statistics.median(short_sides))
    cap = PATCH_CAP_CPU if cpu else PATCH_CAP_GPU
    planned_patch = max(multiple, min(cap, median_short) // multiple * multiple)
    patch = _choose(
        plan, "patch_size", train.patch_size, planned_patch,
        f"the median short side of the training images ({median_short} px), capped at {cap} on this device, "
        f"rounded down to a multiple of 2**depth = {multiple}; smaller images are padded",
    )
    batch = _choose(
        plan, "batch_size", train.batch_size, BATCH_CPU if cpu else BATCH_GPU,
        f"{'CPU' if cpu else 'GPU'} default: at least 8 samples for batch-norm statistics "
        "(the memory-measured batch search comes with the full planner)",
    )
    patches = sum(math.ceil(h / patch) * math.ceil(w / patch) for h, w in train_sizes)
    plan.set("patches_per_epoch", patches, f"tiles of {patch}x{patch} that cover the {len(train_sizes)} training images")
    steps = _choose(
        plan, "steps_per_epoch", train.steps_per_epoch, steps_per_epoch(patches, batch),
        f"ceil({patches} patches / batch {batch}): one pass over the training patches",
    )

    budget = train.budget_s
    if budget is None and train.epochs is None and train.max_steps is None:
        budget = DEFAULT_BUDGET_S
        plan.set("budget_s", budget, "no epochs, steps or budget given: a ten-minute budget")
    elif budget is not None:
        plan.set("budget_s", budget, "given by the user", "user")

    val_tiles = sum(sliding_tiles(h, patch, train.val_overlap) * sliding_tiles(w, patch, train.val_overlap) for h, w in val_sizes)
    if budget is not None and train.epochs is None and timer is not None:
        step_s, tile_s = timer(batch, patch, bf16, plan["channels_last"])
        val_s = val_tiles * tile_s * 1.3  # reading and blending add about 30%
        plan.set("step_seconds", round(step_s, 4), f"measured: mean of timed training steps of {batch}x{patch}x{patch}")
        plan.set("validation_seconds", round(val_s, 2), f"{val_tiles} tiles over the {len(val_sizes)} validation images, measured forward time")
        if train.steps_per_epoch is None and epochs_in_budget(budget, steps, step_s, val_s) < MIN_VALIDATIONS:
            fitted = max(1, int((budget / MIN_VALIDATIONS - val_s) / step_s))
            if fitted < steps:
                steps = fitted
                plan.set(
                    "steps_per_epoch", steps,
                    f"reduced from ceil({patches} / {batch}) so that validation runs at least {MIN_VALIDATIONS} times in the budget",
                )
        epochs = epochs_in_budget(budget, steps, step_s, val_s)
        plan.set("epochs", epochs, f"estimate: budget {budget:.0f} s / ({steps} steps x {step_s:.3f} s + {val_s:.1f} s validation); training stops when the budget is spent")
    else:
        epochs = _choose(
            plan, "epochs", train.epochs, max(1, math.ceil(train.max_steps / steps)) if train.max_steps else 50,
            "enough epochs to reach max_steps" if train.max_steps else "default when a budget is given without a step-time probe",
        )
    total = steps * epochs if train.max_steps is None else train.max_steps
    plan.set("total_steps", total, "weight updates: steps per epoch x epochs" if train.max_steps is None else "max_steps given by the user")
    plan.set("images_seen", images_seen(batch, steps, epochs) if train.max_steps is None else batch * total,
             "patches shown to the network: batch x steps per epoch x epochs")
    _choose(plan, "lr", train.lr, LR_ADAMW, "AdamW default for a U-Net from scratch (the range test comes with the full planner)")
    warmup = int(round(total * train.warmup_fraction))
    plan.set("schedule", f"linear warm-up over {warmup} steps, cosine decay to {train.final_lr_fraction:g} x lr",
             "warm-up steadies the first steps with fresh batch-norm statistics; the decay settles the weights")
    plan.set("warmup_steps", warmup, f"{train.warmup_fraction:.0%} of the planned steps")
    binary = num_classes == 2
    plan.set("loss", "bce-with-logits" if binary else "cross-entropy",
             "two classes: one logit per pixel and binary cross-entropy on logits" if binary
             else f"{num_classes} classes: one logit per class and cross-entropy")
    return plan
