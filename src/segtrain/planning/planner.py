"""The training plan: every number of a run, where it came from, and why.

Each value is the user's (``source="user"``: a flag or the config), a saved plan's
(``"plan file"``), or planned here from the data fingerprint and measurements on this machine
(``"planned"``), with the rule in its reason. Measurements come from a ``probes`` object
(:class:`segtrain.planning.probes.MachineProbes` in real runs, a stand-in in tests); without
one, stated defaults are used. The plan is printed before training and saved as ``plan.json``.

:func:`plan_training` takes the decisions in order, each a named step: the patch, precision and
memory layout, loading (workers, image cache), the batch (:mod:`segtrain.planning.batch`), the
duration (:mod:`segtrain.planning.budget`), then optimizer, learning rate, schedule and loss.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from segtrain.config.schema import SegtrainConfig
from segtrain.optim.schedules import describe
from segtrain.planning import lr_check
from segtrain.planning.arithmetic import rescale_lr
from segtrain.planning.batch import fit_patch_in_memory, plan_batch
from segtrain.data.rescale import input_size
from segtrain.planning.augmentation import plan_augmentation
from segtrain.planning.budget import duration_from_file, plan_duration
from segtrain.planning.plan import PlanItem, TrainingPlan  # noqa: F401  (re-exported)
from segtrain.planning.resolution import layout_of, plan_resolution, regime

PATCH_CAP_CPU = 256
"""Largest planned patch on a CPU: bigger patches make each step slower than the context they add is worth."""
PATCH_CAP_GPU = 512
SPEED_BATCH = 4
"""Batch at which precision and memory layout are compared (the ranking does not depend on it much)."""
LR_TEST_BATCH_CPU = 4
"""On a CPU the range test runs at batch 4 (half the time of 8) and the rate is rescaled."""
LR_DEFAULT = {"adamw": 2e-3, "adam": 2e-3, "sgd": 1e-2}
CACHE_SHARE = 0.25
"""Share of the available memory that decoded training images may take (the step may plan for half)."""
CACHE_DEFAULT_MB = 1024
"""Cache budget when the available memory is not measured."""
RARE_CLASS = 0.02
"""A class under 2% of the pixels is rare: the plan says so (the Dice term and class-steered patches serve it)."""


class _Planner:
    def __init__(self, plan: TrainingPlan, given: dict[str, Any], class_names: list[str] | None = None):
        self.plan, self.given, self.class_names = plan, given, class_names

    def class_name(self, k: int) -> str:
        names = self.class_names
        return str(names[k]) if names and k < len(names) else f"class {k}"

    def choose(self, name: str, user: Any, planned: Callable[[], tuple[Any, str]]) -> Any:
        """The user's value, else the saved plan's, else ``planned()`` -> (value, reason)."""
        if user is not None:
            self.plan.set(name, user, "given by the user (overrides the plan)", "user")
        elif name in self.given.items and self.given.items[name].value is not None:
            item = self.given.items[name]
            self.plan.set(name, item.value, item.reason, "plan file")
        else:
            self.plan.set(name, *planned())
        return self.plan[name]


def plan_training(
    config: SegtrainConfig,
    *,
    fingerprint,
    train_sizes: list[tuple[int, int]],
    val_sizes: list[tuple[int, int]],
    machine,
    probes=None,
    given: TrainingPlan | None = None,
    measure: Callable | None = None,
    windowed: bool = False,
) -> TrainingPlan:
    """Plan scale, precision, patch, batch, steps, epochs, learning rate, schedule, loss and augmentation.

    ``fingerprint`` describes the training images (:class:`segtrain.data.fingerprint.Fingerprint`);
    ``given`` is a saved plan whose values are used unless the user overrides them; ``measure(scales,
    patch)`` measures the training masks' structures (:func:`segtrain.data.structures.measure_structures`);
    ``windowed``: some training images are read by windows (too large for memory).
    """
    config = duration_from_file(config, given)
    plan = TrainingPlan(fingerprint=fingerprint.to_dict())
    p = _Planner(plan, given or TrainingPlan(), config.data.class_names)
    plan.set("device", machine.accelerator, machine.description)
    multiple = 2**config.model.depth
    cap = PATCH_CAP_CPU if machine.accelerator == "cpu" else PATCH_CAP_GPU
    scale, patch, structures = plan_resolution(p, config, measure, train_sizes, cap, multiple, windowed)
    if probes is not None:  # every probe from here on measures the planned network
        probes.model_config = config.model.model_copy(update={"stem": plan["stem"]})
    bf16, channels_last = _choose_speed(p, config, machine, probes, patch)
    _choose_loading(p, config, machine, probes, fingerprint, train_sizes)
    # the patch must leave room for a batch of MIN_BATCH: halve a planned patch until it does
    if machine.accelerator == "cpu" and probes is not None and plan.items["patch_size"].source == "planned":
        patch = fit_patch_in_memory(plan, probes, config, patch, multiple, bf16, channels_last)
    plan.set("regime", *regime(train_sizes, scale, patch))
    layout = layout_of(structures, scale, train_sizes, patch)
    train_sizes = [input_size(h, w, scale, patch) for h, w in train_sizes]
    val_sizes = [input_size(h, w, scale, patch) for h, w in val_sizes]
    if probes is not None:
        probes.scale = scale  # the range test draws patches at the planned scale
    chosen, why = plan_augmentation(config.augment, fingerprint, layout, p.given.items)
    plan.set("augment", chosen, why)
    patches = sum(math.ceil(h / patch) * math.ceil(w / patch) for h, w in train_sizes)
    sizes = plan_batch(p, probes, machine, config, patch, patches, bf16, channels_last)
    plan.set("patches", patches, f"tiles of {patch}x{patch} that cover the {len(train_sizes)} training images"
             + (" at the planned scale" if scale != 1.0 else ""))
    total = plan_duration(p, probes, config, sizes, patches, patch, bf16, channels_last, val_sizes)
    _choose_optimization(p, probes, config, machine, fingerprint, sizes.effective, total, patch, bf16, channels_last)
    return plan


def _choose_speed(p, config, machine, probes, patch) -> tuple[bool, bool]:
    """Precision and memory layout, measured where there is a choice; returns ``(bf16, channels_last)``."""
    plan, train = p.plan, config.train

    def planned_speed():
        if probes is None or machine.accelerator != "cpu":
            bf16 = machine.bf16
            return ("bf16-mixed" if bf16 else "32"), (
                "bfloat16 autocast: the device computes bf16 natively" if bf16 else "float32: no fast bfloat16 here")
        return _measure_speed(plan, probes, machine, patch)

    user_precision = None if train.precision == "auto" else train.precision
    bf16 = p.choose("precision", user_precision, planned_speed) == "bf16-mixed"
    p.choose("channels_last", train.channels_last, lambda: _planned_layout(plan, machine, bf16))
    return bf16, bool(plan["channels_last"])


def _choose_loading(p, config, machine, probes, fingerprint, train_sizes) -> None:
    """Loader processes and the memory for decoded training images."""
    train = config.train
    workers = 0 if machine.cores <= 2 else min(4, machine.cores - 1)
    p.choose("num_workers", train.num_workers, lambda: (
        workers, "loading in the main process: with 2 cores a loader process gains nothing measurable "
                 "(bench/throughput.py) and would hold its own copy of the image cache"
        if workers == 0 else f"{workers} loader processes, leaving a core for the training step"))
    p.choose("cache_mb", train.cache_mb, lambda: _planned_cache(probes, fingerprint, train_sizes))


def _choose_optimization(p, probes, config, machine, fingerprint, effective, total, patch, bf16, channels_last) -> None:
    """Optimizer, learning rate (for the effective batch), schedule with its warm-up, and loss."""
    plan, train = p.plan, config.train
    optimizer = p.choose("optimizer", train.optimizer, lambda: (
        "adamw", "AdamW: adaptive steps forgive a learning rate off by a few times, and its weight decay "
                 "(none on norm and bias parameters) is decoupled from the gradient"))
    lr = _choose_lr(p, probes, config, machine.accelerator, optimizer, effective, patch, bf16, channels_last,
                    fingerprint)
    plan.set("lr_batch", effective, "the effective batch this learning rate is meant for")
    schedule = p.choose("schedule", train.schedule, lambda: (
        "cosine", "the number of steps is known (or re-estimated from the budget while training), so the rate can "
                  "decay smoothly to the end: cosine, after a short warm-up for fresh batch-norm statistics"))
    warmup = 0 if schedule in ("onecycle", "plateau") else int(round(total * train.warmup_fraction))
    plan.set("warmup_steps", warmup, f"{train.warmup_fraction:.0%} of the planned steps" if warmup else
             f"{schedule} has no separate warm-up")
    plan.set("schedule_shape", describe(schedule, warmup, train.final_lr_fraction),
             f"lr {lr:.3g} is the initial or peak rate; the schedule multiplies it step by step")
    p.choose("loss", train.loss, lambda: _planned_loss(fingerprint))


def _choose_lr(p, probes, config, device, optimizer, effective, patch, bf16, channels_last, fingerprint) -> float:
    """The user's rate; a saved plan's, rescaled when the batch changed; else the range test's."""
    plan, given = p.plan, p.given
    if config.train.lr is None and plan.items["batch_size"].source != "planned" and "lr_batch" in given \
            and given["lr_batch"] and given["lr_batch"] != effective and "lr" in given:
        found_at = given["lr_batch"]
        lr = rescale_lr(given["lr"], found_at, effective, optimizer)
        rule = "linear" if optimizer == "sgd" else "square-root"
        plan.set("lr", lr, f"{given['lr']:.3g} found at batch {found_at}, rescaled to batch {effective} by the {rule} rule")
        return lr
    return p.choose("lr", config.train.lr, lambda: _planned_lr(plan, probes, config, device, optimizer, effective, patch,
                                                              bf16, channels_last, fingerprint))


def _planned_cache(probes, fingerprint, train_sizes) -> tuple[int, str]:
    """Memory for decoded training images: a share of what is available, and what the set needs."""
    top = fingerprint.intensity.get("max", math.nan)
    depth = 2 if 255 < top <= 65535 else 4 if top > 65535 else 1  # bytes per channel as read (a guess from the range)
    need = sum(h * w for h, w in train_sizes) * (fingerprint.channels * depth + 1) / 2**20
    if probes is None:
        budget, where = CACHE_DEFAULT_MB, "default when the available memory is not measured"
    else:
        available = probes.available_memory() / 2**20
        budget, where = int(available * CACHE_SHARE), f"{CACHE_SHARE:.0%} of the {available / 1024:.1f} GB available"
    share = "all of them" if need <= budget else f"about {budget / need:.0%} of them; the rest are read at every draw"
    return budget, (f"decoded training images stay in memory after their first read, up to {budget} MB ({where}): "
                    f"the {len(train_sizes)} images need about {need:.0f} MB as read, so the cache holds {share}")


def _planned_loss(fingerprint) -> tuple[str, str]:
    """Cross-entropy plus a soft Dice term, always (nnU-Net's default on every dataset): runs are scored by
    Dice, which the soft Dice term optimises directly, and it keeps a small class from being outvoted by
    the background; the cross-entropy gives smooth, well-scaled gradients from the first step."""
    classes = fingerprint.num_classes
    ce = "binary cross-entropy on one logit per pixel" if classes == 2 else f"cross-entropy over {classes} logits"
    smallest = fingerprint.smallest_class_fraction
    rare = (f"; the smallest foreground class covers {smallest:.1%} of the pixels (< {RARE_CLASS:.0%}): the Dice term "
            "weighs it as much as the background" if smallest < RARE_CLASS else "")
    return "ce+dice", (f"{ce} plus a soft Dice term: the run is scored by Dice, which the Dice term optimises "
                       f"directly, while cross-entropy gives smooth gradients from the first step (nnU-Net's default)"
                       + rare)


def _planned_layout(plan, machine, bf16):
    """The faster layout measured at this precision; unmeasured, channels-last for bf16 on a CPU."""
    speed = plan.get("step_seconds_by_variant")
    matching = {name: s for name, s in (speed or {}).items() if name.startswith("bf16") == bf16}
    if matching:
        best = min(matching, key=matching.get)
        return "channels-last" in best, f"the faster layout measured at this precision: {_fmt_speed(matching)}"
    cl = bool(bf16 and machine.accelerator == "cpu")
    return cl, "channels-last layout speeds up bf16 convolutions on this CPU" if cl else "default memory layout"


def _fmt_speed(speed: dict) -> str:
    return ", ".join(f"{name} {seconds:.3f} s" for name, seconds in speed.items())


def _measure_speed(plan, probes, machine, patch):
    """Time float32 and (when it agrees with float32) bf16, each in both layouts; the fastest precision."""
    variants = [("float32", False, False), ("float32 channels-last", False, True)]
    note = ""
    if machine.bf16:
        loss_diff, cosine = probes.agreement(SPEED_BATCH, patch)
        from segtrain.planning.measurements import harmless

        if harmless(loss_diff, cosine):
            variants += [("bf16", True, False), ("bf16 channels-last", True, True)]
            note = f"; bf16 changes the loss by {loss_diff:.1e} (relative) and the gradient direction by cosine {cosine:.4f}"
        else:
            note = f"; bf16 not used: it changes the loss by {loss_diff:.1e} and gradient cosine is {cosine:.4f}"
    speed = {name: probes.speed(SPEED_BATCH, patch, bf16, cl)[0] for name, bf16, cl in variants}
    plan.set("step_seconds_by_variant", {k: round(v, 4) for k, v in speed.items()},
             f"measured: median of 3 training steps of {SPEED_BATCH}x{patch}x{patch} after 2 warm-up steps{note}")
    best = min(speed, key=speed.get)
    bf16 = best.startswith("bf16")
    gain = speed["float32"] / speed[best]
    return ("bf16-mixed" if bf16 else "32"), f"fastest measured variant: {best}, {gain:.2f}x the speed of float32"


def _planned_lr(plan, probes, config, device, optimizer, effective, patch, bf16, channels_last, fingerprint):
    """The range test's suggestion (run at batch 4 on a CPU), rescaled to the effective batch; else a default."""
    default = LR_DEFAULT[optimizer]
    if probes is None or not config.train.lr_find:
        why = "the range test is switched off" if not config.train.lr_find else "nothing measured"
        return default, f"{optimizer} default ({why})"
    test_batch = min(effective, LR_TEST_BATCH_CPU) if device == "cpu" else effective
    loss_name = config.train.loss or _planned_loss(fingerprint)[0]
    curve, suggestion = probes.lr_test(test_batch, patch, bf16, channels_last, optimizer, loss_name)
    plan.lr_curve, plan.lr_suggestion = curve, suggestion
    plan.set("lr_finder", {"batch": test_batch, "steps": len(curve.lrs), "suggestion": suggestion.lr,
                           "minimum_lr": suggestion.minimum_lr, "diverged": curve.diverged},
             f"range test: {len(curve.lrs)} steps at batch {test_batch}, rate growing from {curve.lrs[0]:.0e}; "
             + suggestion.reason)
    if suggestion.lr is None:
        return default, f"{optimizer} default: the range test found no usable descent ({suggestion.reason})"
    found, checked = _checked_lr(plan, probes, suggestion, test_batch, patch, bf16, channels_last, optimizer, loss_name)
    lr = rescale_lr(found, test_batch, effective, optimizer)
    if test_batch == effective:
        return lr, f"range-test suggestion at batch {effective}, {checked}"
    rule = "linear" if optimizer == "sgd" else "square-root"
    return lr, (f"{found:.3g} at batch {test_batch} ({checked}), rescaled to batch {effective} by the "
                f"{rule} rule (x{lr / found:.3g})")


def _checked_lr(plan, probes, suggestion, batch, patch, bf16, channels_last, optimizer, loss_name):
    """The range test's suggestion capped and checked by two short trials (:mod:`segtrain.planning.lr_check`)."""
    lr, cap_note = lr_check.capped(suggestion.lr, suggestion.minimum_lr)
    rates = [lr, lr / lr_check.TRIAL_FACTOR]
    losses = probes.lr_trials(batch, patch, bf16, channels_last, optimizer, loss_name, rates)
    chosen, why = lr_check.choose(lr, losses)
    plan.set("lr_check", {"suggestion": suggestion.lr, "capped": lr, "tried": {f"{r:.3g}": round(v, 4)
             for r, v in losses.items()}, "chosen": chosen}, f"the suggestion {suggestion.lr:.3g} {cap_note}; {why}")
    return chosen, f"suggestion {suggestion.lr:.3g} checked by trials: {chosen:.3g}"
