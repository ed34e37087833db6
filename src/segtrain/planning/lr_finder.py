"""Learning-rate range test and a robust rule for reading a learning rate off its curve.

The range test (Smith, "Cyclical Learning Rates for Training Neural Networks", 2015) trains for a
few dozen steps while the learning rate grows exponentially from tiny to huge, and records the loss
at every step. The loss first barely moves, then falls, then blows up; a good learning rate lies on
the falling part, well below the point where the loss is lowest (there training is already on the
edge of diverging). The model and optimizer are restored afterwards, so the test costs only time.

Reading the curve by eye is easy; by program it is fragile (noise, a NaN tail, curves that never
fall). ``suggest_lr`` therefore smooths the loss, trims both ends, refuses to answer when there is no
clear descent, and takes the steepest descent, capped well below the minimum.

The smoothing is the bias-corrected exponential moving average used by fastai's ``lr_find``, but with
``beta=0.8`` rather than fastai's 0.98 (see ``DEFAULT_BETA``): a moving average lags the curve, and at
0.98 the lag decides the answer.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

DEFAULT_BETA = 0.8
"""Smoothing factor of the moving average. The average lags the raw loss by about
``beta / (1 - beta)`` steps: 49 steps, 4 decades of a 100-step test over 8 decades, at 0.98. On a
synthetic curve with its steepest descent at 1e-3 and its minimum at 2e-2, beta 0.98 put them at
4e-3 and 1.4e-1 (so the cap at minimum/10 could land near the real minimum); 0.8 puts them at
1.6e-3 and 3.8e-2 and still holds the steepest point within a factor 2.3 under 3% noise."""
MIN_POINTS = 8
"""Fewest points left after dropping non-finite values and trimming for a suggestion to be made."""
DIVERGENCE_GRACE = 5
"""Steps before the divergence check starts: the first smoothed values rest on one or two losses."""


@dataclass
class LRCurve:
    """What a range test recorded: one entry per step taken."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    diverged: bool

    def to_rows(self) -> list[dict]:
        """One dict per step with keys ``step``, ``lr``, ``loss``, ``smoothed``."""
        return [
            {"step": k, "lr": lr, "loss": loss, "smoothed": s}
            for k, (lr, loss, s) in enumerate(zip(self.lrs, self.losses, self.smoothed))
        ]


@dataclass
class LRSuggestion:
    """A suggested learning rate (or ``None``) and the plain-English reason for it."""

    lr: float | None
    reason: str
    index: int | None
    minimum_lr: float | None


def lr_schedule(start_lr: float, end_lr: float, num_steps: int) -> list[float]:
    """Exponentially growing learning rates: ``start * (end / start) ** (k / (num_steps - 1))``.

    The ratio between neighbours is constant, so every decade gets the same number of steps.
    """
    if not 0 < start_lr < end_lr or num_steps < 2:
        raise ValueError(f"need 0 < start_lr < end_lr and num_steps >= 2, got {start_lr}, {end_lr}, {num_steps}")
    return [start_lr * (end_lr / start_lr) ** (k / (num_steps - 1)) for k in range(num_steps)]


def smooth_losses(losses, beta: float = DEFAULT_BETA) -> list[float]:
    """Bias-corrected exponential moving average of ``losses``; nan where a loss is non-finite.

    ``avg_k = beta * avg_{k-1} + (1 - beta) * loss_k`` and ``smoothed_k = avg_k / (1 - beta ** n_k)``,
    where ``n_k`` counts the finite losses so far (non-finite losses do not update the average).
    """
    avg, n, out = 0.0, 0, []
    for loss in losses:
        loss = float(loss)
        if not math.isfinite(loss):
            out.append(math.nan)
            continue
        n += 1
        avg = beta * avg + (1 - beta) * loss
        out.append(avg / (1 - beta**n))
    return out


def lr_range_test(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    next_batch: Callable[[], tuple[torch.Tensor, torch.Tensor]],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    beta: float = DEFAULT_BETA,
    diverge_factor: float = 4.0,
    autocast: Callable[[], contextlib.AbstractContextManager] | None = None,
) -> LRCurve:
    """Train ``num_steps`` steps with an exponentially growing learning rate and record the loss.

    Each step sets every param group's ``lr``, calls ``next_batch()``, runs forward and ``loss_fn``
    (inside ``autocast()`` when given), then ``zero_grad``, ``backward`` and ``step``. The test stops
    early (``diverged=True``) when the loss is non-finite (that point is recorded, no step is taken)
    or, after ``DIVERGENCE_GRACE`` steps, the smoothed loss exceeds ``diverge_factor`` times the best
    smoothed loss so far. Afterwards (also on error) the model's state_dict (parameters and buffers),
    each module's train/eval mode, the gradients, the optimizer's state_dict and every group's
    original ``lr`` are restored, so model and optimizer are exactly as before.
    """
    lrs = lr_schedule(start_lr, end_lr, num_steps)
    params = list(model.parameters())
    model_state = copy.deepcopy(model.state_dict())
    optimizer_state = copy.deepcopy(optimizer.state_dict())
    original_lrs = [group["lr"] for group in optimizer.param_groups]
    modes = [(module, module.training) for module in model.modules()]
    grads = [None if p.grad is None else p.grad.detach().clone() for p in params]
    context = autocast if autocast is not None else contextlib.nullcontext
    losses: list[float] = []
    avg, best, diverged = 0.0, math.inf, False
    try:
        model.train()
        for k, lr in enumerate(lrs):
            for group in optimizer.param_groups:
                group["lr"] = lr
            x, y = next_batch()
            with context():
                loss = loss_fn(model(x), y)
            value = float(loss.detach())
            losses.append(value)
            if not math.isfinite(value):
                diverged = True
                break
            avg = beta * avg + (1 - beta) * value
            smoothed = avg / (1 - beta ** (k + 1))
            if k >= DIVERGENCE_GRACE and 0 < best < smoothed / diverge_factor:
                diverged = True
                break
            best = min(best, smoothed)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        model.load_state_dict(model_state)
        optimizer.load_state_dict(optimizer_state)
        for group, original in zip(optimizer.param_groups, original_lrs):
            group["lr"] = original
        for module, training in modes:
            module.training = training
        for p, grad in zip(params, grads):
            p.grad = grad
    return LRCurve(lrs[: len(losses)], losses, smooth_losses(losses, beta), diverged)


def _trim(n: int, skip_start: float, skip_end: float) -> tuple[int, int]:
    """Points to drop at the start and at the end: the given shares, at least 1 each from 10 points."""
    at_least = 1 if n >= 10 else 0
    return max(at_least, int(skip_start * n)), max(at_least, int(skip_end * n))


def suggest_lr(
    lrs,
    losses,
    *,
    skip_start: float = 0.1,
    skip_end: float = 0.05,
    beta: float = DEFAULT_BETA,
    min_drop: float = 0.05,
    below_minimum: float = 10.0,
) -> LRSuggestion:
    """Suggest a learning rate from a range-test curve of raw losses, or explain why not.

    Rules, in order:

    1. Everything from the first non-finite loss on is dropped (the run diverged there).
    2. The remaining losses are smoothed (``smooth_losses`` with ``beta``); then the first
       ``skip_start`` and last ``skip_end`` shares of the points are ignored (at least one point at
       each end when there are 10 points or more).
    3. The minimum of the smoothed loss over the kept points is found; the descent is before it.
    4. No suggestion (``lr=None``) when fewer than ``MIN_POINTS`` points are kept, when the minimum is
       the first kept point, or when the smoothed loss at the minimum is not at least ``min_drop``
       (relative) below the smoothed loss at the first kept point.
    5. Otherwise the steepest part of the descent is located as its half-way point: the first kept
       point where the smoothed loss has fallen half-way from its level at the first kept point to
       its minimum, moved back by the moving average's lag of ``round(beta / (1 - beta))`` steps
       (``steepest_lr``). For a sigmoid-shaped fall in log lr this is exactly the
       steepest point; unlike a numerical slope it is not moved by one noisy point (on real
       curves, noise near the minimum made the slope pick points 30x too high). The suggestion
       is ``min(steepest_lr, minimum_lr / below_minimum)``: when the cap decides, ``lr`` is
       exactly ``minimum_lr / below_minimum`` (not a grid point) and ``index`` is the curve point
       nearest to it in log lr. ``index`` counts from the start of the curve that was passed in.
    """
    lrs, losses = np.asarray(lrs, dtype=float), np.asarray(losses, dtype=float)
    if lrs.shape != losses.shape or lrs.ndim != 1:
        raise ValueError(f"lrs and losses must be 1-d of equal length, got {lrs.shape} and {losses.shape}")
    bad = np.flatnonzero(~np.isfinite(losses))
    n = int(bad[0]) if bad.size else losses.size
    lrs, smoothed = lrs[:n], np.asarray(smooth_losses(losses[:n], beta))
    head, tail = _trim(n, skip_start, skip_end)
    kept = max(0, n - head - tail)
    if kept < MIN_POINTS:
        reason = f"only {kept} usable points after dropping non-finite losses and trimming (need {MIN_POINTS})"
        return LRSuggestion(None, reason + ": no usable descent", None, None)
    kept_lrs, s = lrs[head : n - tail], smoothed[head : n - tail]
    i_min = int(np.argmin(s))
    minimum_lr = float(kept_lrs[i_min])
    drop = (s[0] - s[i_min]) / abs(s[0]) if s[0] != 0 else 0.0
    if i_min == 0 or drop < min_drop:
        reason = (f"the smoothed loss is lowest at the first kept point ({minimum_lr:.1e}) and never falls"
                  if i_min == 0 else f"the loss never fell by more than {min_drop:.0%} (smoothed drop "
                  f"{drop:.1%} from {kept_lrs[0]:.1e} to the minimum at {minimum_lr:.1e})")
        return LRSuggestion(None, reason + ": no usable descent", None, minimum_lr)
    half_way = s[0] - 0.5 * (s[0] - s[i_min])
    lag = round(beta / (1 - beta))  # the moving average reaches a level this many steps after the loss
    i_steep = max(0, int(np.argmax(s[: i_min + 1] <= half_way)) - lag)
    steepest_lr = float(kept_lrs[i_steep])
    cap = minimum_lr / below_minimum
    if steepest_lr <= cap:
        reason = (f"steepest descent of the smoothed loss (half-way down, {s[0]:.3g} -> {s[i_min]:.3g}) "
                  f"at {steepest_lr:.1e}, {minimum_lr / steepest_lr:.0f}x below the minimum at {minimum_lr:.1e}")
        return LRSuggestion(steepest_lr, reason, head + i_steep, minimum_lr)
    reason = (f"steepest descent at {steepest_lr:.1e} is within {below_minimum:g}x of the minimum at "
              f"{minimum_lr:.1e}, so capped at minimum/{below_minimum:g} = {cap:.1e}")
    index = int(np.argmin(np.abs(np.log10(lrs) - math.log10(cap))))
    return LRSuggestion(cap, reason, index, minimum_lr)


def write_curve_csv(curve: LRCurve, path) -> None:
    """Write the curve to ``path`` as CSV with columns ``step,lr,loss,smoothed``."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["step", "lr", "loss", "smoothed"])
        writer.writeheader()
        writer.writerows(curve.to_rows())


def plot_curve(curve: LRCurve, suggestion: LRSuggestion, path) -> None:
    """Save a PNG: loss and smoothed loss against lr (left, log x), lr against step (right, log y)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    try:
        left.plot(curve.lrs, curve.losses, color="tab:blue", alpha=0.3, label="loss")
        left.plot(curve.lrs, curve.smoothed, color="navy", label="smoothed loss")
        finite = [v for v in curve.smoothed if math.isfinite(v)]
        if finite:  # the last raw losses may be huge: scale to the smoothed curve before its minimum
            high = max(finite[: finite.index(min(finite)) + 1])
            low = min(v for v in curve.losses + finite if math.isfinite(v))
            margin = 0.1 * (high - low) or 0.1 * abs(high) or 1.0
            left.set_ylim(low - margin, high + margin)
        if suggestion.lr is not None:
            left.axvline(suggestion.lr, color="tab:red", linestyle="--")
            if suggestion.index is not None and math.isfinite(curve.smoothed[suggestion.index]):
                y = curve.smoothed[suggestion.index]
                left.plot([suggestion.lr], [y], "o", color="tab:red")
                left.annotate(f"{suggestion.lr:.1e}", (suggestion.lr, y), textcoords="offset points",
                              xytext=(6, 6), color="tab:red")
            left.set_title(f"suggested lr {suggestion.lr:.1e}")
        else:
            import textwrap

            left.set_title(textwrap.fill(f"no suggestion: {suggestion.reason}", 60), fontsize=8)
        left.set(xscale="log", xlabel="learning rate", ylabel="loss")
        left.legend(loc="lower left")
        right.plot(range(len(curve.lrs)), curve.lrs, color="navy")
        right.set(yscale="log", xlabel="step", ylabel="learning rate", title="learning-rate schedule")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
