"""The plan of a denoising (Noise2Void) run: the same numbers as a segmentation plan, each with its reason.

- ``patch_size``: 64 (the N2V default: blind spots need context, not whole images), at most the
  smallest training image rounded down to a multiple of ``2**depth``;
- ``patches``: non-overlapping patches that tile the training images once, ``sum floor(h/p) floor(w/p)``;
- ``batch_size``: 16 on a CPU, 64 on a GPU (CAREamics trains with 64-128 on a GPU);
- ``steps_per_epoch = ceil(patches / batch_size)``: one epoch shows every patch once;
- ``epochs``: given, or as many as the ``--budget`` holds at the measured step time
  (:func:`segtrain.planning.budget.epochs_in_budget`), else the default budget's;
- ``samples_seen = batch_size x steps_per_epoch x epochs`` (patches, duplicates counted);
- ``lr``: 4e-4 with Adam unless given. The range test reads the loss of successive batches while
  the rate grows; Noise2Void's loss counts 0.2% of the pixels (about 9 per 64x64 patch) and its
  floor is the noise variance itself, so batch-to-batch scatter hides the turn the test looks
  for. 4e-4 is CAREamics' and the N2V paper's rate for Adam.
"""

from __future__ import annotations

import math
import time

from segtrain.config.schema import SegtrainConfig
from segtrain.losses.masked import masked_mse
from segtrain.models import build_model
from segtrain.planning.arithmetic import samples_seen, sliding_tiles, steps_per_epoch
from segtrain.planning.budget import DEFAULT_BUDGET_S, MIN_VALIDATIONS, epochs_in_budget, steps_for_validations
from segtrain.planning.plan import TrainingPlan

N2V_PATCH = 64
N2V_LR = 4e-4
CPU_BATCH, GPU_BATCH = 16, 64
LONG_RUN_STEPS = 2000
"""Runs of at least this many weight updates mask N2V's 0.2% of the pixels; shorter ones mask more."""
VAL_TILE = 256
"""Validation tiles, as prediction's (``inference.denoise.TILE``)."""
VAL_OVERLAP = 0.5
"""Validation tiles overlap by half, as denoising prediction does (``inference.denoise.OVERLAP``)."""


def _source(value) -> str:
    return "planned" if value is None else "user"


def _patch(cfg: SegtrainConfig, sizes: list[tuple[int, int]]) -> tuple[int, str]:
    multiple = 2 ** cfg.model.depth
    if cfg.train.patch_size is not None:
        return cfg.train.patch_size, "given"
    smallest = min(min(h, w) for h, w in sizes)
    fit = max(multiple, smallest // multiple * multiple)
    if fit >= N2V_PATCH:
        return N2V_PATCH, "the Noise2Void default: the blind spots need context around them, not whole images"
    return fit, f"the smallest training image is {smallest} px: the largest multiple of {multiple} that fits"


def measure_step(channels: int, cfg: SegtrainConfig, batch: int, patch: int, device: str, repeats: int = 3,
                 bf16: bool = False) -> float:
    """Seconds of one Adam step of the network on a ``batch x channels x patch x patch`` masked batch."""
    import contextlib

    import torch

    model = build_model(channels, channels, cfg.model, "multiclass").to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=N2V_LR)
    x = torch.randn(batch, channels, patch, patch, device=device)
    mask = (torch.rand(batch, 1, patch, patch, device=device) < 0.01).float()
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        cast = torch.autocast(device, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with cast:
            out = model(x)
        loss = masked_mse(out, x, mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return float(min(times[1:]))  # the first step pays for allocations


def plan_denoise(cfg: SegtrainConfig, train_sizes, val_sizes, channels: int, device: str,
                 step_s: float | None = None, bf16: bool = False) -> TrainingPlan:
    """Plan a Noise2Void run; ``step_s`` skips the step measurements (tests, a known machine); ``bf16``:
    the machine has fast bfloat16 (then measured against float32)."""
    train = cfg.train
    plan = TrainingPlan()
    plan.set("task", "denoise", "Noise2Void: each noisy image is its own target, through blind spots")
    plan.set("device", device, "the accelerator found" if device != "cpu" else "no GPU found: the CPU")
    patch, why = _patch(cfg, train_sizes)
    plan.set("patch_size", patch, why, _source(train.patch_size))
    patches = sum(max(1, h // patch) * max(1, w // patch) for h, w in train_sizes)
    plan.set("patches", patches, f"non-overlapping {patch}x{patch} patches that tile the {len(train_sizes)} "
                                 "training images once (an image smaller than the patch counts once)")
    default_batch = GPU_BATCH if device == "cuda" else CPU_BATCH
    batch = train.batch_size or default_batch
    plan.set("batch_size", batch, "given" if train.batch_size else
             f"the N2V batch for a {'GPU' if device == 'cuda' else 'CPU'}", _source(train.batch_size))
    steps = train.steps_per_epoch or steps_per_epoch(patches, batch)
    plan.set("steps_per_epoch", steps, "given" if train.steps_per_epoch else
             f"ceil(patches / batch) = ceil({patches} / {batch}): every patch once per epoch",
             _source(train.steps_per_epoch))
    _precision(plan, cfg, channels, step_s, bf16)
    _duration(plan, cfg, channels, val_sizes, plan["step_seconds"])
    _share(plan, train.n2v_share)
    lr = train.lr or N2V_LR
    plan.set("lr", lr, "given" if train.lr else "the Noise2Void rate for Adam; no range test: the masked loss of "
             "0.2% of the pixels scatters too much from batch to batch to show where the loss turns",
             _source(train.lr))
    plan.set("optimizer", train.optimizer or "adam", "given" if train.optimizer else "Adam, as Noise2Void",
             _source(train.optimizer))
    plan.set("schedule", train.schedule or "cosine", "given" if train.schedule else
             "cosine decay to 1% after a short warm-up", _source(train.schedule))
    plan.set("num_workers", 0, "the training images are decoded once and kept; patches are cut in the main process")
    return plan


def _precision(plan: TrainingPlan, cfg: SegtrainConfig, channels: int, step_s: float | None, bf16: bool) -> None:
    """float32, or bfloat16 autocast where the hardware has it and a measured step is at least 1.2x faster.

    The loss is always computed in float32 (:func:`masked_mse`), and prediction runs in float32."""
    batch, patch, device = plan["batch_size"], plan["patch_size"], plan["device"]
    given = cfg.train.precision if cfg.train.precision != "auto" else None
    shape = f"{batch}x{channels}x{patch}x{patch}"
    if step_s is not None:
        plan.set("precision", given or "32", "given" if given else "float32 (step time given, nothing measured)",
                 _source(given))
        plan.set("step_seconds", round(step_s, 4), "given")
        return
    fp32 = measure_step(channels, cfg, batch, patch, device) if given in (None, "32") else None
    half = measure_step(channels, cfg, batch, patch, device, bf16=True) if (bf16 and given is None) or \
        given == "bf16-mixed" else None
    if given:
        plan.set("precision", given, "given", "user")
        step = fp32 if given == "32" else half if half is not None else measure_step(channels, cfg, batch, patch, device)
    elif half is not None and half * 1.2 < fp32:
        plan.set("precision", "bf16-mixed", f"bfloat16 autocast: a step took {half:.3g} s against {fp32:.3g} s in "
                                            "float32 (the loss stays float32)")
        step = half
    else:
        why = f"bfloat16 was not 1.2x faster ({half:.3g} s against {fp32:.3g} s)" if half is not None else \
            "this machine has no fast bfloat16"
        plan.set("precision", "32", f"float32: {why}")
        step = fp32
    plan.set("step_seconds", round(step, 4), f"measured: one Adam step at {shape}")


def _share(plan: TrainingPlan, given: float | None) -> None:
    """The blind-spot share: N2V's 0.2% for runs of many steps; Noise2Self's grid (cells of 4 px, 6.25%) for short ones.

    Each masked pixel is one term of the loss: 0.2% gives about 9 per 64x64 patch. A run of few weight
    updates cannot afford so little signal per step; Noise2Self (Batson and Royer 2019) masks 1 pixel
    in 16 with the same blind-spot principle. Measured on ``synth noisy`` images (sigma 25, 45 s of
    training on a loaded 2-core CPU, 10-13 steps, lr 4e-4): test PSNR 21.7 dB at 1/64, 22.7 dB at 1/16."""
    if given is not None:
        share, why, source = given, "given", "user"
    elif plan["total_steps"] >= LONG_RUN_STEPS:
        share, why, source = 0.002, "Noise2Void's share for a run of many steps", "planned"
    else:
        share, source = 1 / 16, "planned"
        why = (f"a short run ({plan['total_steps']} < {LONG_RUN_STEPS} steps): Noise2Self's 1 pixel in 16 instead "
               "of N2V's 0.2%, so every step carries 30 times more loss terms")
    side = max(2, round(math.sqrt(1 / share)))  # as data.loaders.n2v.cell_side
    plan.set("n2v_share", share, f"{why}; one blind spot per {side}x{side} cell, jittered in it "
                                 f"({1 / side**2:.2%} of the pixels), given a random neighbour's value (5x5 window)",
             source)


def _duration(plan: TrainingPlan, cfg: SegtrainConfig, channels: int, val_sizes, step_s: float) -> None:
    """Validation seconds, epochs (given or from the budget), total steps and samples seen."""
    train = cfg.train
    batch, patch, steps = plan["batch_size"], plan["patch_size"], plan["steps_per_epoch"]
    tile = max(VAL_TILE, patch)
    tiles = sum(sliding_tiles(h, tile, VAL_OVERLAP) * sliding_tiles(w, tile, VAL_OVERLAP) for h, w in val_sizes)
    val_s = 1.3 * tiles * (tile / patch) ** 2 * step_s / batch / 3  # a forward is about a third of a step
    plan.set("validation_seconds", round(val_s, 3), f"{tiles} tiles of {tile} px over the validation images, "
                                                    "a forward each")
    budget = train.budget_s
    if train.epochs is not None:
        epochs, why = train.epochs, "given"
    elif train.max_steps is not None:
        epochs, why = math.ceil(train.max_steps / steps), f"ceil(--max-steps {train.max_steps} / {steps})"
    else:
        budget = budget or DEFAULT_BUDGET_S
        epochs = epochs_in_budget(budget, steps, step_s, val_s)
        why = f"budget {budget:g} s // (steps x {step_s:.3g} s + validation {val_s:.3g} s)"
        if epochs < MIN_VALIDATIONS and train.steps_per_epoch is None:
            cut = min(steps, steps_for_validations(budget, step_s, val_s))
            if cut < steps:
                plan.set("steps_per_epoch", cut, f"cut from {steps} so that {MIN_VALIDATIONS} validations fit "
                                                 f"in the budget")
                steps = cut
            epochs = max(1, min(MIN_VALIDATIONS, epochs_in_budget(budget, steps, step_s, val_s)))
    if budget is not None:
        plan.set("budget_s", budget, "given" if train.budget_s else "the default budget", _source(train.budget_s))
    plan.set("epochs", epochs, why, "user" if train.epochs else "planned")
    total = train.max_steps or steps * epochs
    plan.set("total_steps", total, f"steps_per_epoch x epochs = {steps} x {epochs}")
    plan.set("warmup_steps", int(round(train.warmup_fraction * total)), f"{train.warmup_fraction:.0%} of the steps")
    plan.set("samples_seen", samples_seen(batch, 1, steps, epochs),
             f"batch x steps x epochs = {batch} x {steps} x {epochs} patches (duplicates counted)")
