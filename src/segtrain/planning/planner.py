"""The training plan: every number of a run, where it came from, and why.

Each value is the user's (``source="user"``: a flag or the config), a saved plan's
(``"plan file"``), or planned here from the data fingerprint and measurements on this machine
(``"planned"``), with the rule in its reason. Measurements come from a ``probes`` object
(:class:`segtrain.planning.probes.MachineProbes` in real runs, a stand-in in tests); without
one, stated defaults are used. The plan is printed before training and saved as ``plan.json``.
"""

from __future__ import annotations

import math
import statistics
from typing import Any, Callable

from segtrain.config.schema import SegtrainConfig
from segtrain.errors import UserError
from segtrain.optim.schedules import describe
from segtrain.planning.arithmetic import (
    epochs_in_budget,
    rescale_lr,
    samples_seen,
    sliding_tiles,
    steps_per_epoch,
)
from segtrain.planning.batch import MIN_BATCH, MemoryFit, dataset_cap, largest_power_of_two
from segtrain.planning.plan import PlanItem, TrainingPlan  # noqa: F401  (re-exported)

PATCH_CAP_CPU = 256
"""Largest planned patch on a CPU: bigger patches make each step slower than the context they add is worth."""
PATCH_CAP_GPU = 512
MIN_PATCH = 64
BATCH_DEFAULT = {"cpu": 8, "cuda": 16}
"""Batch when nothing is measured."""
BN_MIN_BATCH = 8
"""Batch norm estimates its statistics from the batch; below 8 samples they are noisy."""
THROUGHPUT_GAIN = 1.15
"""On a CPU, a doubled batch is planned only if it processes at least 15% more patches per second."""
LR_TEST_BATCH_CPU = 4
"""On a CPU the range test runs at batch 4 (half the time of 8) and the rate is rescaled."""
LR_DEFAULT = {"adamw": 2e-3, "adam": 2e-3, "sgd": 1e-2}
DEFAULT_BUDGET_S = 600.0
"""Budget when neither epochs, steps nor a budget is given: ten minutes."""
DEFAULT_EPOCHS = 50
MIN_VALIDATIONS = 3
"""A budget run validates at least this often, so the best checkpoint is chosen among several."""
CACHE_SHARE = 0.25
"""Share of the available memory that decoded training images may take (the step may plan for half)."""
CACHE_DEFAULT_MB = 1024
"""Cache budget when the available memory is not measured."""
DICE_TERM_BELOW = 0.10
"""A foreground class below 10% of the pixels gets a Dice term added to the cross-entropy."""
VALIDATION_OVERHEAD = 1.3
"""Reading, padding and blending add about 30% to the measured forward time of the tiles."""


class _Planner:
    def __init__(self, plan: TrainingPlan, given: dict[str, Any]):
        self.plan, self.given = plan, given

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
) -> TrainingPlan:
    """Plan precision, patch, batch, steps, epochs, learning rate, schedule and loss for a run.

    ``fingerprint`` describes the training images (:class:`segtrain.data.fingerprint.Fingerprint`);
    ``given`` is a saved plan whose values are used unless the user overrides them.
    """
    config = _duration_from_file(config, given)
    train, model = config.train, config.model
    plan = TrainingPlan(fingerprint=fingerprint.to_dict())
    p = _Planner(plan, given or TrainingPlan())
    device = machine.accelerator
    cpu = device == "cpu"
    plan.set("device", device, machine.description)
    num_classes = fingerprint.num_classes

    # patch: from the image sizes and the network's divisibility
    multiple = 2**model.depth
    median_short = int(statistics.median(min(h, w) for h, w in train_sizes))
    cap = PATCH_CAP_CPU if cpu else PATCH_CAP_GPU
    patch = p.choose("patch_size", train.patch_size, lambda: (
        max(multiple, min(cap, median_short) // multiple * multiple),
        f"the median short side of the training images ({median_short} px), capped at {cap} on this device, "
        f"rounded down to a multiple of 2**depth = {multiple}; smaller images are mirror-padded",
    ))

    # precision and memory layout: measured where there is a choice
    def planned_speed():
        if probes is None or not cpu:
            bf16 = machine.bf16
            return ("bf16-mixed" if bf16 else "32"), (
                "bfloat16 autocast: the device computes bf16 natively" if bf16 else "float32: no fast bfloat16 here")
        return _measure_speed(plan, probes, machine, patch)

    user_precision = None if train.precision == "auto" else train.precision
    precision = p.choose("precision", user_precision, planned_speed)
    bf16 = precision == "bf16-mixed"
    p.choose("channels_last", train.channels_last, lambda: _planned_layout(plan, machine, bf16))
    channels_last = bool(plan["channels_last"])
    workers = 0 if machine.cores <= 2 else min(4, machine.cores - 1)
    p.choose("num_workers", train.num_workers, lambda: (
        workers, "loading in the main process: with 2 cores a loader process gains nothing measurable "
                 "(bench/throughput.py) and would hold its own copy of the image cache"
        if workers == 0 else f"{workers} loader processes, leaving a core for the training step"))

    p.choose("cache_mb", train.cache_mb, lambda: _planned_cache(probes, fingerprint, train_sizes))

    # the patch must leave room for a batch of MIN_BATCH: halve a planned patch until it does
    if cpu and probes is not None and plan.items["patch_size"].source == "planned":
        patch = _patch_within_memory(plan, probes, config, patch, multiple, bf16, channels_last)

    # batch: largest power of two that fits, capped by the dataset and (on a CPU) by throughput
    patches = sum(math.ceil(h / patch) * math.ceil(w / patch) for h, w in train_sizes)
    batch = p.choose("batch_size", train.batch_size,
                     lambda: _planned_batch(plan, probes, machine, config, patch, patches, bf16, channels_last))
    if plan.items["batch_size"].source == "user" and probes is not None:  # a plan file's batch was measured
        _check_user_batch(plan, p, probes, machine, config, patch, batch, bf16, channels_last)
    if model.norm == "batch" and batch < BN_MIN_BATCH:
        plan.warnings.append(
            f"batch norm sees only {batch} samples per step, so its statistics are noisy; "
            "group norm does not depend on the batch (model.norm: group, or --norm group)")
    accumulate = p.choose("accumulate", train.accumulate, lambda: (
        1, "1: the batch fits in memory; accumulating only helps when the wanted batch does not fit"))
    processes = train.devices * train.num_nodes
    if processes > 1:
        plan.set("processes", processes, f"{train.devices} device(s) x {train.num_nodes} node(s), each with its own "
                 f"batch of {batch} x accumulate {accumulate}; their gradients are averaged into one update", "user")
    effective = batch * accumulate * processes
    plan.set("effective_batch", effective, f"batch {batch} x accumulate {accumulate}"
             + (f" x {processes} processes" if processes > 1 else "") + ": samples per weight update")
    plan.set("patches", patches, f"tiles of {patch}x{patch} that cover the {len(train_sizes)} training images")
    steps = p.choose("steps_per_epoch", train.steps_per_epoch, lambda: (
        steps_per_epoch(patches, effective),
        f"ceil({patches} patches / effective batch {effective}): one pass over the training patches"))

    # duration: epochs given, or from a budget and measured step time, or from max_steps
    budget = train.budget_s
    if budget is not None:
        plan.set("budget_s", budget, "given by the user", "user")
    elif "budget_s" in p.given and p.given["budget_s"] is not None and train.epochs is None and train.max_steps is None:
        budget = p.choose("budget_s", None, lambda: (None, ""))
    elif train.epochs is None and train.max_steps is None:
        budget = DEFAULT_BUDGET_S
        plan.set("budget_s", budget, "no epochs, steps or budget given: a ten-minute budget")
    val_tiles = sum(sliding_tiles(h, patch, train.val_overlap) * sliding_tiles(w, patch, train.val_overlap)
                    for h, w in val_sizes)
    timed = probes is not None or "step_seconds" in p.given
    if budget is not None and train.epochs is None and train.max_steps is None and timed:
        step_s, val_s = _step_and_validation_seconds(plan, p, probes, device, batch, patch, bf16, channels_last,
                                                     accumulate, val_tiles, len(val_sizes))
        if plan.items["steps_per_epoch"].source == "planned" and epochs_in_budget(budget, steps, step_s, val_s) < MIN_VALIDATIONS:
            fitted = max(1, int((budget / MIN_VALIDATIONS - val_s) / step_s))
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
    total = train.max_steps if train.max_steps is not None else steps * epochs
    plan.set("total_steps", total, "weight updates: " + (
        "max_steps given by the user" if train.max_steps is not None else f"{steps} steps per epoch x {epochs} epochs"))
    plan.set("iterations", total * accumulate, f"forward passes: {total} weight updates x accumulate {accumulate}")
    seen = samples_seen(batch, accumulate * processes, steps, epochs) if train.max_steps is None else effective * total
    plan.set("samples_seen", seen, f"patches shown: batch {batch} x accumulate {accumulate} x "
             + (f"{processes} processes x " if processes > 1 else "") + f"{steps} steps per epoch x {epochs} epochs")

    # optimizer, learning rate, schedule, loss
    optimizer = p.choose("optimizer", train.optimizer, lambda: (
        "adamw", "AdamW: adaptive steps forgive a learning rate off by a few times, and its weight decay "
                 "(none on norm and bias parameters) is decoupled from the gradient"))
    lr_reason = None
    if train.lr is None and plan.items["batch_size"].source != "planned" and "lr_batch" in p.given \
            and p.given["lr_batch"] and p.given["lr_batch"] != effective and "lr" in p.given:
        found_at = p.given["lr_batch"]
        lr = rescale_lr(p.given["lr"], found_at, effective, optimizer)
        rule = "linear" if optimizer == "sgd" else "square-root"
        lr_reason = f"{p.given['lr']:.3g} found at batch {found_at}, rescaled to batch {effective} by the {rule} rule"
        plan.set("lr", lr, lr_reason)
    else:
        lr = p.choose("lr", train.lr, lambda: _planned_lr(plan, probes, config, device, optimizer, effective, patch,
                                                           bf16, channels_last, num_classes, fingerprint))
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
    return plan


def _duration_from_file(config: SegtrainConfig, given: TrainingPlan | None) -> SegtrainConfig:
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
    """Cross-entropy, plus a soft Dice term when a foreground class covers under 10% of the pixels."""
    classes = fingerprint.num_classes
    ce = "binary cross-entropy on one logit per pixel" if classes == 2 else f"cross-entropy over {classes} logits"
    smallest = fingerprint.smallest_class_fraction
    if smallest < DICE_TERM_BELOW:
        return "ce+dice", (f"the smallest foreground class covers {smallest:.1%} of the pixels (< {DICE_TERM_BELOW:.0%}): "
                           f"{ce} plus a soft Dice term, which does not let the background dominate")
    return "ce", f"{ce}: every class covers at least {smallest:.1%} of the pixels, so no Dice term is needed"


def _planned_layout(plan, machine, bf16):
    speed = plan.get("step_seconds_by_variant")
    matching = {name: s for name, s in (speed or {}).items() if name.startswith("bf16") == bf16}
    if matching:
        best = min(matching, key=matching.get)
        return "channels-last" in best, f"the faster layout measured at this precision: {_fmt_speed(matching)}"
    cl = bool(bf16 and machine.accelerator == "cpu")
    return cl, "channels-last layout speeds up bf16 convolutions on this CPU" if cl else "default memory layout"


def _fmt_speed(speed: dict) -> str:
    return ", ".join(f"{name} {seconds:.3f} s" for name, seconds in speed.items())


SPEED_BATCH = 4
"""Batch at which precision and memory layout are compared (the ranking does not depend on it much)."""


def _measure_speed(plan, probes, machine, patch):
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


def _patch_within_memory(plan, probes, config, patch, multiple, bf16, channels_last):
    allowed = probes.available_memory() * config.train.memory_fraction
    first = patch
    while patch > max(MIN_PATCH, multiple) and probes.memory(patch, bf16, channels_last).largest_batch(allowed) < MIN_BATCH:
        patch = max(MIN_PATCH, multiple, patch // 2 // multiple * multiple)
    if patch != first:
        item = plan.items["patch_size"]
        plan.set("patch_size", patch, f"{item.reason}; halved from {first} until a batch of {MIN_BATCH} fits in "
                                      f"the {allowed / 2**30:.1f} GB allowed")
    return patch


def _planned_batch(plan, probes, machine, config, patch, patches, bf16, channels_last):
    device = machine.accelerator
    cap = dataset_cap(patches)
    cap_note = f"at most 1/8 of the {patches} training patches ({cap})"
    if probes is None:
        batch = min(BATCH_DEFAULT[device], cap)
        return max(MIN_BATCH, batch), f"default for this device, {cap_note}; nothing measured"
    if device == "cpu":
        fit = probes.memory(patch, bf16, channels_last)
        available = probes.available_memory()
        allowed = available * config.train.memory_fraction
        memory_batch = fit.largest_batch(allowed)
        plan.set("memory", {
            "per_sample_mb": round(fit.per_sample / 2**20, 1), "fixed_mb": round(fit.fixed / 2**20, 1),
            "available_mb": round(available / 2**20), "allowed_mb": round(allowed / 2**20),
            "largest_batch": memory_batch,
        }, f"{_measured(fit)} peak memory of training steps at batches {sorted(fit.measured)}: "
           f"{fit.fixed / 2**20:.0f} MB + {fit.per_sample / 2**20:.1f} MB per sample; "
           f"{config.train.memory_fraction:.0%} of the {available / 2**30:.1f} GB available may be used")
        if memory_batch < MIN_BATCH:
            raise UserError(
                f"a training step at patch {patch} needs about {fit.predict(MIN_BATCH) / 2**30:.1f} GB at batch "
                f"{MIN_BATCH}, more than the {allowed / 2**30:.1f} GB allowed; pass --patch-size {max(MIN_PATCH, patch // 2)}")
        limit = min(memory_batch, cap)
        start = min(limit, BN_MIN_BATCH)
        batch, rates = _throughput_batch(probes, device, patch, bf16, channels_last, start, limit)
        rate_note = ", ".join(f"{b}: {r:.1f}" for b, r in rates.items())
        return batch, (f"largest power of two within memory ({memory_batch}) and {cap_note} is {limit}; on a CPU a "
                       f"doubled batch must raise the patches per second by {THROUGHPUT_GAIN - 1:.0%} to pay for "
                       f"halving the weight updates (measured patches/s by batch: {rate_note})")
    fitted, tried = probes.gpu_batch(patch, bf16, channels_last, cap)
    plan.set("memory", {str(b): outcome for b, outcome in tried.items()}, "real training steps tried on the GPU")
    if fitted < MIN_BATCH:
        raise UserError(f"a training step at patch {patch} does not fit on the GPU even at batch {MIN_BATCH}; "
                        f"pass --patch-size {max(MIN_PATCH, patch // 2)}")
    return fitted, f"largest power of two whose real training steps fit on the GPU, {cap_note}"


def _throughput_batch(probes, device, patch, bf16, channels_last, start, limit):
    batch = max(MIN_BATCH, largest_power_of_two(start))
    rates = {batch: batch / probes.speed(batch, patch, bf16, channels_last)[0]}
    while batch * 2 <= limit:
        rates[batch * 2] = batch * 2 / probes.speed(batch * 2, patch, bf16, channels_last)[0]
        if rates[batch * 2] < rates[batch] * THROUGHPUT_GAIN:
            break
        batch *= 2
    return batch, rates


def _measured(fit) -> str:
    """How the memory figures were obtained: now, or on this machine before (its cache)."""
    if getattr(fit, "from_cache", False):
        return "measured earlier on this machine (cache; SEGTRAIN_CACHE_DIR=off measures again):"
    return "measured"


def _check_user_batch(plan, p, probes, machine, config, patch, batch, bf16, channels_last):
    """Refuse before training a batch that cannot fit; warn when it is above the safe share.

    A plan file's memory measurement is reused when it was made at the same patch size,
    precision and memory layout; otherwise the memory of real steps is measured.
    """
    if machine.accelerator != "cpu":
        fitted, tried = probes.gpu_batch(patch, bf16, channels_last, batch)
        if fitted < batch:
            raise UserError(f"--batch-size {batch} does not fit on the GPU at patch {patch} "
                            f"({tried.get(batch, 'not tried')}); the largest that fits is {fitted}")
        return
    saved = p.given["memory"] if "memory" in p.given else None
    same = all(name in p.given and p.given[name] == value for name, value in (
        ("patch_size", patch), ("precision", plan["precision"]), ("channels_last", channels_last)))
    if same and isinstance(saved, dict) and "per_sample_mb" in saved and "fixed_mb" in saved:
        fit = MemoryFit(fixed=saved["fixed_mb"] * 2**20, per_sample=saved["per_sample_mb"] * 2**20, measured={})
        plan.set("memory", saved, p.given.items["memory"].reason, "plan file")
    else:
        fit = probes.memory(patch, bf16, channels_last)
        plan.set("memory", {"per_sample_mb": round(fit.per_sample / 2**20, 1), "fixed_mb": round(fit.fixed / 2**20, 1)},
                 f"{_measured(fit)} peak memory of training steps at batches {sorted(fit.measured)}: "
                 f"{fit.fixed / 2**20:.0f} MB + {fit.per_sample / 2**20:.1f} MB per sample")
    available = probes.available_memory()
    need = fit.predict(batch)
    largest = fit.largest_batch(available * config.train.memory_fraction)
    if need > available:
        raise UserError(f"--batch-size {batch} needs about {need / 2**30:.1f} GB at patch {patch}, but "
                        f"{available / 2**30:.1f} GB are available; the largest safe batch is {largest}")
    if batch > largest:
        plan.warnings.append(f"batch {batch} needs about {need / 2**30:.1f} GB, more than "
                             f"{config.train.memory_fraction:.0%} of the {available / 2**30:.1f} GB available")


def _step_and_validation_seconds(plan, p, probes, device, batch, patch, bf16, channels_last, accumulate,
                                 val_tiles, n_val):
    given = p.given
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


def _planned_lr(plan, probes, config, device, optimizer, effective, patch, bf16, channels_last, num_classes, fingerprint):
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
    lr = rescale_lr(suggestion.lr, test_batch, effective, optimizer)
    if test_batch == effective:
        return lr, f"range-test suggestion at batch {effective}"
    rule = "linear" if optimizer == "sgd" else "square-root"
    return lr, (f"range-test suggestion {suggestion.lr:.3g} at batch {test_batch}, rescaled to batch {effective} by the "
                f"{rule} rule (x{lr / suggestion.lr:.3g})")
