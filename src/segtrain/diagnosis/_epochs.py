"""Detectors over the per-epoch records of ``metrics.csv``: fit, predictions, data loading, memory."""

from __future__ import annotations

import math
import re
from itertools import pairwise
from typing import Any

from segtrain.diagnosis._numbers import finite, is_finite, median, num, pct, rounded, safe, slope
from segtrain.diagnosis._steps import lr_at, steps_blowup
from segtrain.diagnosis.findings import Finding
from segtrain.diagnosis.history import RunHistory, column

OVERFIT_MIN_EPOCHS = 3
"""Epochs after the validation-loss minimum needed to call a rise (fewer is noise)."""

OVERFIT_RISE = 0.10
"""The last validation loss must be this share above its minimum: smaller rises are noise or a
plateau, not overfitting."""

OVERFIT_TRAIN_FALL = 0.05
"""The training loss must have fallen by this share since the validation minimum: with a
plateaued training loss, a wobbling validation loss is noise, not overfitting."""

UNDERFIT_MIN_EPOCHS = 3
"""Epochs needed to call a loss flat."""

UNDERFIT_MAX_FALL = 0.10
"""Losses that fell less than this share from the first epoch to the last are flat."""

UNDERFIT_DICE = 0.5
"""Validation Dice below this (median of the last 3 epochs) is a poor result."""

UNDERFIT_NEAR_START = 0.9
"""A last-epoch training loss above this share of the first step's loss has not left its
starting level (the untrained model's loss)."""

BACKGROUND_MIN_TRUE = 0.005
"""Foreground must cover at least this share of the validation pixels for a missing prediction
to matter (0.5%)."""

BACKGROUND_PRED_RATIO = 0.1
"""Predicting less than this share of the true foreground is predicting background only."""

BACKGROUND_EPOCHS = 2
"""Epochs at the end that must all predict background (one epoch can be a blip)."""

COLLAPSE_RATIO = 0.5
"""An earlier epoch that predicted at least this share of the true foreground means the
prediction collapsed rather than never started."""

DEAD_CLASS_DICE = 0.01
"""A class whose validation Dice stays below this is stuck at zero."""

DEAD_CLASS_EPOCHS = 3
"""Epochs at the end over which a class must stay stuck."""

ALIVE_CLASS_DICE = 0.1
"""Another foreground class must reach this Dice: the model learns, just not this class."""

DATA_SHARE_LIMIT = 0.5
"""A median share of training time spent waiting for batches above this means data loading,
not the model, sets the speed."""

MEMORY_SHARE_LIMIT = 0.9
"""Peak memory above this share of the memory available leaves no headroom for a larger batch
or an uneven image."""

UNSTABLE_MIN_EPOCHS = 4
"""Finite validation scores needed to judge swings: with 3 there are only 2 changes and 1
possible reversal, which a single unlucky epoch makes."""

UNSTABLE_SWING = 0.05
"""The typical change between epochs against the trend (Dice) must be at least this: smaller
wobbles are the noise of a small validation set (one image more or less right moves the
score by a few hundredths)."""

UNSTABLE_TREND_RATIO = 2.0
"""The typical swing must be at least this many times the trend's progress per epoch: a curve
that rises while wobbling by less than it rises (two steps forward, one back) is still
learning, and best.ckpt keeps its peak."""

UNSTABLE_REVERSALS = 0.5
"""At least this share of consecutive changes must reverse direction. Independent noise
around a flat level reverses in about 2/3 of epochs, a learning curve (whose changes share
a sign) in few; a half keeps one run of two same-direction steps in a short series."""

UNSTABLE_QUOTE = 10
"""Scores quoted in the message (the last ones when there are more)."""


def _rows(history: RunHistory, *names: str) -> list[dict[str, Any]]:
    return [r for r in history.epochs if all(is_finite(r.get(n)) for n in names)]


def _best_epoch(history: RunHistory) -> int | None:
    rows = _rows(history, "val_dice")
    return max(rows, key=lambda r: r["val_dice"])["epoch"] if rows else None


def detect_overfitting(history: RunHistory) -> list[Finding]:
    """``overfitting``: validation loss rising after its minimum while the training loss falls.

    Fires when at least :data:`OVERFIT_MIN_EPOCHS` epochs follow the validation-loss minimum,
    the last validation loss is more than :data:`OVERFIT_RISE` above the minimum, the
    validation loss trends up from the minimum (least-squares slope > 0, which ignores a lone
    low outlier in an improving curve) and the training loss trends down and ends at least
    :data:`OVERFIT_TRAIN_FALL` below its value at the minimum.
    """
    rows = _rows(history, "train_loss", "val_loss")
    if len(rows) < OVERFIT_MIN_EPOCHS + 1:
        return []
    m = min(range(len(rows)), key=lambda i: rows[i]["val_loss"])
    after = rows[m:]
    if len(after) - 1 < OVERFIT_MIN_EPOCHS:
        return []
    low, last = after[0], after[-1]
    if last["val_loss"] <= (1 + OVERFIT_RISE) * low["val_loss"]:
        return []
    epochs = [r["epoch"] for r in after]
    if slope(epochs, column(after, "val_loss")) <= 0 or slope(epochs, column(after, "train_loss")) >= 0:
        return []
    if last["train_loss"] > (1 - OVERFIT_TRAIN_FALL) * low["train_loss"]:
        return []
    gap_then, gap_now = low["val_loss"] - low["train_loss"], last["val_loss"] - last["train_loss"]
    best = _best_epoch(history) or low["epoch"]
    start = after[1]["epoch"]
    message = (f"validation loss has risen for {len(after) - 1} epochs since epoch {start} "
               f"({num(low['val_loss'])} at epoch {low['epoch']} -> {num(last['val_loss'])} at epoch {last['epoch']}) "
               f"while training loss fell ({num(low['train_loss'])} -> {num(last['train_loss'])}): the model is "
               f"overfitting; the train/val gap grew from {num(gap_then)} to {num(gap_now)}")
    fix = (f"stop earlier (best.ckpt keeps epoch {best}), add augmentation (augment.vflip: true, augment.rot90: true "
           "in a --config YAML), or use more training images")
    evidence = {"min_epoch": low["epoch"], "start_epoch": start, "last_epoch": last["epoch"],
                "val_min": rounded(low["val_loss"]), "val_last": rounded(last["val_loss"]),
                "train_at_min": rounded(low["train_loss"]), "train_last": rounded(last["train_loss"]),
                "gap_at_min": rounded(gap_then), "gap_last": rounded(gap_now), "best_epoch": best}
    return [Finding("overfitting", "warning", message, fix, safe(evidence), epoch=start)]


def _fall(values: list[float]) -> float:
    return (values[0] - values[-1]) / abs(values[0]) if values and values[0] else 0.0


def detect_underfitting(history: RunHistory) -> list[Finding]:
    """``underfitting``: training and validation loss flat from the first epoch, and high.

    Flat: over at least :data:`UNDERFIT_MIN_EPOCHS` epochs each loss fell less than
    :data:`UNDERFIT_MAX_FALL` from its first to its last value. High: the validation Dice
    (median of the last 3 epochs) is below :data:`UNDERFIT_DICE`, or the last training loss is
    above :data:`UNDERFIT_NEAR_START` x the first step's loss (it never left its start). Runs
    whose loss diverged are left to ``lr_too_high``.
    """
    train = finite(column(history.epochs, "train_loss"))
    val = finite(column(history.epochs, "val_loss"))
    if len(train) < UNDERFIT_MIN_EPOCHS:
        return []
    if history.events_of("divergence") or steps_blowup(history) is not None:
        return []  # a diverged loss is flat and high too: that is lr_too_high, the opposite advice
    if _fall(train) >= UNDERFIT_MAX_FALL or (len(val) >= UNDERFIT_MIN_EPOCHS and _fall(val) >= UNDERFIT_MAX_FALL):
        return []
    dice = median(finite(column(history.epochs, "val_dice"))[-3:])
    first_step = next((r["loss"] for r in history.steps if is_finite(r.get("loss"))), math.nan)
    near_start = is_finite(first_step) and first_step > 0 and train[-1] >= UNDERFIT_NEAR_START * first_step
    if not ((is_finite(dice) and dice < UNDERFIT_DICE) or near_start):
        return []
    n = len(train)
    losses = f"training loss {num(train[0], 3)} -> {num(train[-1], 3)}"
    if val:
        losses += f", validation loss {num(val[0], 3)} -> {num(val[-1], 3)}"
    reasons = []
    if is_finite(dice):
        reasons.append(f"validation Dice is {dice:.2f}")
    if near_start:
        reasons.append(f"the loss is still near the first step's {num(first_step, 3)}")
    message = (f"the losses barely fell over {n} epochs ({losses}) and {' and '.join(reasons)}: "
               "the model is underfitting")
    lr = lr_at(history, None)
    higher = f"now {num(lr)}; try {num(10 * lr)} or " if is_finite(lr) else "try "
    width = history.meta.get("width")
    wider = f"model.width: {2 * width}" if isinstance(width, int) else "model.width: 32"
    fix = (f"raise the learning rate ({higher}`segtrain lr-find DATA`), train longer (--epochs {max(2 * n, 20)}), "
           f"or use a larger model ({wider} in a --config YAML)")
    evidence = {"epochs": n, "train_first": rounded(train[0]), "train_last": rounded(train[-1]),
                "val_first": rounded(val[0]) if val else None, "val_last": rounded(val[-1]) if val else None,
                "val_dice": rounded(dice), "first_step_loss": rounded(first_step), "lr": rounded(lr)}
    return [Finding("underfitting", "warning", message, fix, safe(evidence), epoch=history.epochs[-1]["epoch"])]


def detect_predicts_background(history: RunHistory) -> list[Finding]:
    """``predicts_background``: the last :data:`BACKGROUND_EPOCHS` epochs predict less than
    :data:`BACKGROUND_PRED_RATIO` x the true foreground share (which is at least
    :data:`BACKGROUND_MIN_TRUE`); the message says whether it collapsed from a better epoch.
    """
    rows = _rows(history, "val_fg_pred", "val_fg_true")
    if not rows:
        return []
    tail = rows[-BACKGROUND_EPOCHS:]
    if not all(r["val_fg_true"] > BACKGROUND_MIN_TRUE and r["val_fg_pred"] < BACKGROUND_PRED_RATIO * r["val_fg_true"]
               for r in tail):
        return []
    last = rows[-1]
    message = (f"at epoch {last['epoch']} the model predicts {pct(last['val_fg_pred'])} of the validation pixels as "
               f"foreground while {pct(last['val_fg_true'])} are foreground: it predicts only background")
    earlier = rows[:-len(tail)]
    peak = max(earlier, key=lambda r: r["val_fg_pred"] / r["val_fg_true"], default=None)
    collapsed = peak is not None and peak["val_fg_pred"] >= COLLAPSE_RATIO * peak["val_fg_true"]
    if collapsed:
        message += f"; it predicted {pct(peak['val_fg_pred'])} at epoch {peak['epoch']}, so the prediction collapsed"
    fix = "use --loss dice+ce and --class-weights frequency so that the rare foreground counts"
    evidence = {"epoch": last["epoch"], "fg_pred": rounded(last["val_fg_pred"]),
                "fg_true": rounded(last["val_fg_true"]), "collapsed": collapsed,
                "peak_epoch": peak["epoch"] if collapsed else None}
    return [Finding("predicts_background", "warning", message, fix, safe(evidence), epoch=tail[0]["epoch"])]


def _class_label(history: RunHistory, k: int) -> str:
    """``"2 (road)"`` when ``meta["class_names"]`` names class 2, else ``"2"``."""
    names = history.meta.get("class_names")
    name = None
    if isinstance(names, (list, tuple)) and k < len(names):
        name = names[k]
    elif isinstance(names, dict):
        name = names.get(k, names.get(str(k)))
    return f"{k} ({name})" if name not in (None, "") else str(k)


def detect_class_zero_dice(history: RunHistory) -> list[Finding]:
    """``class_zero_dice``: foreground classes whose validation Dice stays below
    :data:`DEAD_CLASS_DICE` over the last :data:`DEAD_CLASS_EPOCHS` epochs (all recorded, so
    the class is present) while another foreground class reaches :data:`ALIVE_CLASS_DICE`.
    """
    if len(history.epochs) < DEAD_CLASS_EPOCHS:
        return []
    classes = sorted({int(m.group(1)) for r in history.epochs for key in r
                      if (m := re.fullmatch(r"val_dice_(\d+)", key))})
    tail = history.epochs[-DEAD_CLASS_EPOCHS:]
    stuck, alive = [], {}
    for k in (c for c in classes if c >= 1):
        values = column(tail, f"val_dice_{k}")
        if all(is_finite(v) and v < DEAD_CLASS_DICE for v in values):
            stuck.append(k)
        elif median(values) > ALIVE_CLASS_DICE:
            alive[k] = median(values)
    if not (stuck and alive):
        return []
    runs = []
    for k in stuck:
        n = 0
        for row in reversed(history.epochs):
            v = row.get(f"val_dice_{k}")
            if not (is_finite(v) and v < DEAD_CLASS_DICE):
                break
            n += 1
        runs.append(n)
    labels = ", ".join(_class_label(history, k) for k in stuck)
    plural = len(stuck) > 1
    names = f"classes {labels}" if plural else f"class {labels}"
    low, high = min(alive.values()), max(alive.values())
    reach = f"{low:.2f}" if len(alive) == 1 else f"{low:.2f}-{high:.2f}"
    message = (f"{names} {'have' if plural else 'has'} validation Dice below {num(DEAD_CLASS_DICE)} over the last "
               f"{min(runs)} epochs while the other foreground classes reach {reach}: the model never predicts "
               f"{'them' if plural else 'it'}")
    fix = (f"use --class-weights frequency and --loss dice+ce, and check the masks of {names} "
           "(`segtrain check DATA` counts the pixels of each class)")
    evidence = {"classes": stuck, "epochs": min(runs),
                "other_classes": {str(k): rounded(v) for k, v in alive.items()}}
    return [Finding("class_zero_dice", "warning", message, fix, safe(evidence),
                    epoch=history.epochs[-min(runs)]["epoch"])]


def detect_data_loading(history: RunHistory) -> list[Finding]:
    """``data_loading``: the median ``data_share`` over the epochs is above :data:`DATA_SHARE_LIMIT`."""
    shares = finite(column(history.epochs, "data_share"))
    share = median(shares)
    if not (is_finite(share) and share > DATA_SHARE_LIMIT):
        return []
    workers = history.meta.get("num_workers")
    more = (f"train.num_workers: {2 * workers}" if isinstance(workers, int) and workers > 0
            else "train.num_workers: N up to the number of CPU cores")
    message = (f"training waited for the next batch {pct(share)} of the time (median over {len(shares)} epochs): "
               "it is limited by data loading, not by the model")
    fix = (f"use more data-loading workers ({more} in a --config YAML, or --workers), more memory for decoded "
           "images (--cache-mb) so each is decoded once, smaller or faster-decoding images (PNG/TIFF instead of "
           "JPEG), or a faster disk")
    return [Finding("data_loading", "warning", message, fix, {"data_share": rounded(share), "epochs": len(shares)})]


def detect_memory_high(history: RunHistory) -> list[Finding]:
    """``memory_high``: ``peak_memory_mb`` above :data:`MEMORY_SHARE_LIMIT` x ``memory_limit_mb``
    in any epoch; the finding names the epoch with the highest share."""
    rows = [r for r in _rows(history, "peak_memory_mb", "memory_limit_mb") if r["memory_limit_mb"] > 0]
    if not rows:
        return []
    top = max(rows, key=lambda r: r["peak_memory_mb"] / r["memory_limit_mb"])
    share = top["peak_memory_mb"] / top["memory_limit_mb"]
    if share <= MEMORY_SHARE_LIMIT:
        return []
    message = (f"peak memory {top['peak_memory_mb']:,.0f} MB at epoch {top['epoch']} is {pct(share)} of the "
               f"{top['memory_limit_mb']:,.0f} MB available: a larger batch or image may run out of memory")
    batch = history.meta.get("batch_size")
    smaller = f" (now {batch}; try {max(1, batch // 2)})" if isinstance(batch, int) else ""
    fix = f"use a smaller --batch-size{smaller} or --patch-size"
    evidence = {"epoch": top["epoch"], "peak_memory_mb": rounded(top["peak_memory_mb"]),
                "memory_limit_mb": rounded(top["memory_limit_mb"]), "share": rounded(share)}
    return [Finding("memory_high", "warning", message, fix, evidence, epoch=top["epoch"])]


def _theil_sen(xs: list[float], ys: list[float]) -> float:
    """The median of the slopes between all pairs of points: a trend one or two swings cannot tilt."""
    slopes = [(ys[j] - ys[i]) / (xs[j] - xs[i]) for i in range(len(xs)) for j in range(i + 1, len(xs))
              if xs[j] != xs[i]]
    return median(slopes) if slopes else 0.0


def detect_unstable_validation(history: RunHistory) -> list[Finding]:
    """``unstable_validation``: the validation Dice swings up and down between epochs.

    Over the epochs with a finite ``val_dice`` (at least :data:`UNSTABLE_MIN_EPOCHS`), the trend
    is the Theil-Sen line (median of the pairwise slopes, per epoch) and the swing is the median
    absolute change between consecutive epochs once the trend's change is taken out. Fires when
    the swing is at least :data:`UNSTABLE_SWING`, at least :data:`UNSTABLE_TREND_RATIO` x the
    trend's progress per epoch, and at least :data:`UNSTABLE_REVERSALS` of the consecutive
    changes reverse direction. Runs that diverged are left to ``lr_too_high`` and runs that do
    not learn to ``underfitting`` (an untrained model's score is noise, and the advice there is
    the opposite).
    """
    rows = _rows(history, "val_dice")
    if len(rows) < UNSTABLE_MIN_EPOCHS:
        return []
    epochs = [float(r["epoch"]) for r in rows]
    scores = column(rows, "val_dice")
    trend = _theil_sen(epochs, scores)
    changes = [b - a for a, b in pairwise(scores)]
    against = [c - trend * (e1 - e0) for c, (e0, e1) in zip(changes, pairwise(epochs))]
    swing = median(abs(c) for c in against)
    reversals = sum(a * b < 0 for a, b in pairwise(changes))
    pairs = len(changes) - 1
    if not (swing >= UNSTABLE_SWING and swing >= UNSTABLE_TREND_RATIO * abs(trend)
            and reversals >= UNSTABLE_REVERSALS * pairs):
        return []
    if history.events_of("divergence") or steps_blowup(history) is not None or detect_underfitting(history):
        return []
    start = next(rows[i + 1]["epoch"] for i, c in enumerate(against) if abs(c) >= UNSTABLE_SWING)
    quoted = rows[-UNSTABLE_QUOTE:]
    path = " -> ".join(f"{r['val_dice']:.2f}" for r in quoted)
    span = (f"over epochs {quoted[0]['epoch']}-{quoted[-1]['epoch']}" if len(quoted) == len(rows)
            else f"over the last {len(quoted)} of {len(rows)} epochs")
    direction = "rose" if trend > 0 else "fell" if trend < 0 else "moved"
    message = (f"validation Dice swung {path} {span} (typical change {swing:.2f} between epochs, changing "
               f"direction at {reversals} of {pairs} epochs, while its trend {direction} only {abs(trend):.3f} per "
               "epoch): the validation score is unstable, as with a too-high learning rate")
    lr = lr_at(history, None)
    lower = (f"--lr {num(lr / 3)}, a third of the run's {num(lr)}" if is_finite(lr) and lr > 0
             else "--lr, to about a third of the run's")
    batch = history.meta.get("batch_size")
    larger = f"--batch-size {2 * batch}, now {batch}" if isinstance(batch, int) and batch > 0 else "--batch-size"
    fix = (f"lower the learning rate ({lower}), or raise the batch ({larger}); "
           "a larger validation split also steadies the score")
    evidence = {"epochs": len(rows), "first_epoch": rows[0]["epoch"], "last_epoch": rows[-1]["epoch"],
                "scores": [rounded(x) for x in scores[-UNSTABLE_QUOTE:]], "swing": rounded(swing),
                "trend_per_epoch": rounded(trend), "reversals": reversals, "pairs": pairs, "lr": rounded(lr)}
    return [Finding("unstable_validation", "warning", message, fix, safe(evidence), epoch=start)]
