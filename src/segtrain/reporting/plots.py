"""Plots of a run, drawn with matplotlib's Agg backend (no screen needed).

Every ``plot_*`` function reads run files (or numbers taken from them), writes one PNG to
``out`` and returns its path; it returns ``None`` and writes nothing when its data is missing
(no file, no rows, no finite value), so a report can leave the figure out and say why.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from segtrain.reporting._figure import finite, new_figure, read_columns, read_json, save

LOG_SCALE_RATIO = 50.0
"""The learning rate is drawn on a log axis when its largest value is this many times its
smallest: a cosine decay to 1% or a warm-up from 0 is unreadable on a linear one."""


def _name(class_names: Sequence[str] | None, k: int) -> str:
    return str(class_names[k]) if class_names is not None and k < len(class_names) else str(k)


def plot_steps(steps_csv: Path | str, out: Path | str) -> Path:
    """Two panels from ``steps.csv``: the learning rate per weight update, and the training loss."""
    columns = read_columns(steps_csv) or {"step": np.array([]), "lr": np.array([]), "loss": np.array([])}
    fig, axes = new_figure(10, 4, 1, 2)
    left, right = axes[0]
    left.plot(columns["step"], columns["lr"], color="tab:blue")
    left.set(xlabel="weight update", ylabel="learning rate", title="learning rate per step")
    left.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    right.plot(columns["step"], columns["loss"], color="tab:gray", linewidth=0.8)
    right.set(xlabel="weight update", ylabel="training loss", title="training loss per step")
    return save(fig, out)


def plot_losses(metrics_csv: Path | str | None, out: Path | str) -> Path | None:
    """Training and validation loss per epoch (``metrics.csv``) on one plot; ``None`` without losses."""
    columns = read_columns(metrics_csv)
    if columns is None or "epoch" not in columns:
        return None
    curves = [(name, label, colour) for name, label, colour in
              (("train_loss", "training", "tab:blue"), ("val_loss", "validation", "tab:orange"))
              if finite(columns.get(name))]
    if not curves:
        return None
    fig, ax = new_figure()
    for name, label, colour in curves:
        ax.plot(columns["epoch"], columns[name], "o-", color=colour, label=label, markersize=3)
    ax.set(xlabel="epoch", ylabel="loss", title="loss per epoch")
    ax.legend()
    ax.grid(alpha=0.3)
    return save(fig, out)


def plot_val_metrics(metrics_csv: Path | str | None, out: Path | str,
                     class_names: Sequence[str] | None = None) -> Path | None:
    """Validation Dice, IoU and per-class Dice (``val_dice_<k>``) per epoch; ``None`` without them."""
    columns = read_columns(metrics_csv)
    if columns is None or "epoch" not in columns:
        return None
    per_class = sorted((int(name.rsplit("_", 1)[1]), name) for name in columns
                       if name.startswith("val_dice_") and name.rsplit("_", 1)[1].isdigit())
    main = [(name, label) for name, label in (("val_dice", "Dice"), ("val_iou", "IoU")) if finite(columns.get(name))]
    if not main and not any(finite(columns[name]) for _, name in per_class):
        return None
    fig, ax = new_figure()
    for name, label in main:
        ax.plot(columns["epoch"], columns[name], "o-", linewidth=2, markersize=3, label=label)
    for k, name in per_class:
        if finite(columns[name]):
            ax.plot(columns["epoch"], columns[name], "--", linewidth=1, label=f"Dice of {_name(class_names, k)}")
    ax.set(xlabel="epoch", ylabel="score", title="validation scores per epoch")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save(fig, out)


def plot_lr(steps_csv: Path | str | None, out: Path | str) -> Path | None:
    """Learning rate per weight update (``steps.csv``), on a log axis when it spans a wide range."""
    columns = read_columns(steps_csv)
    if columns is None or "step" not in columns or not finite(columns.get("lr")):
        return None
    lr = columns["lr"]
    fig, ax = new_figure(7, 3.5)
    ax.plot(columns["step"], lr, color="tab:blue")
    positive = lr[np.isfinite(lr) & (lr > 0)]
    if positive.size and positive.max() > LOG_SCALE_RATIO * positive.min():
        ax.set_yscale("log")
    ax.set(xlabel="weight update", ylabel="learning rate", title="learning rate per step")
    ax.grid(alpha=0.3)
    return save(fig, out)


def plot_lr_find(lr_find_csv: Path | str | None, plan_json: Path | str | None, out: Path | str) -> Path | None:
    """The range test's loss against the learning rate, with the suggestion (and the rate used) marked.

    ``lr_find.csv`` has columns ``step, lr, loss, smoothed``; the suggestion is the plan's
    ``lr_finder.suggestion`` and the rate used its ``lr`` (rescaled when the batch changed).
    ``None`` when the range test did not run (no ``lr_find.csv``).
    """
    columns = read_columns(lr_find_csv)
    if columns is None or not finite(columns.get("lr")) or not finite(columns.get("loss")):
        return None
    plan = read_json(plan_json) or {}
    finder = plan.get("lr_finder") if isinstance(plan.get("lr_finder"), dict) else {}
    lrs, losses = columns["lr"], columns["loss"]
    smoothed = columns.get("smoothed", losses)
    fig, ax = new_figure()
    ax.plot(lrs, losses, color="tab:blue", alpha=0.3, label="loss")
    ax.plot(lrs, smoothed, color="navy", label="smoothed loss")
    good = smoothed[np.isfinite(smoothed)]
    if good.size:  # the last raw losses may be huge: scale to the smoothed curve up to its minimum
        high = good[: int(np.argmin(good)) + 1].max()
        low = min(good.min(), np.nanmin(np.where(np.isfinite(losses), losses, np.nan)))
        margin = 0.1 * (high - low) or 0.1 * abs(high) or 1.0
        ax.set_ylim(low - margin, high + margin)
    suggestion, used = finder.get("suggestion"), plan.get("lr")
    title = "learning-rate range test"
    if isinstance(suggestion, (int, float)) and suggestion > 0:
        y = float(np.interp(math.log(suggestion), np.log(lrs[lrs > 0]), smoothed[lrs > 0]))
        ax.axvline(suggestion, color="tab:red", linestyle="--")
        ax.plot([suggestion], [y], "o", color="tab:red", label=f"suggestion {suggestion:.2e}")
        title += f": suggestion {suggestion:.2e}"
    else:
        title += ": no suggestion"
    if isinstance(used, (int, float)) and used > 0 and used != suggestion:
        ax.axvline(used, color="tab:green", linestyle=":", label=f"rate used {used:.2e}")
    ax.set(xscale="log", xlabel="learning rate", ylabel="loss", title=title)
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
    return save(fig, out)


def plot_grad_norms(grads_csv: Path | str | None, out: Path | str) -> Path | None:
    """Gradient norm of every layer group (``grads.csv``: ``step`` and one column per group), log scale."""
    columns = read_columns(grads_csv)
    if columns is None or "step" not in columns:
        return None
    groups = [name for name in columns if name != "step" and finite(np.where(columns[name] > 0, columns[name], np.nan))]
    if not groups:
        return None
    from matplotlib import colormaps

    colours = colormaps["viridis"](np.linspace(0, 0.9, len(groups)))
    fig, ax = new_figure(7, 4.5)
    for name, colour in zip(groups, colours):
        values = np.where(columns[name] > 0, columns[name], np.nan)  # zeros cannot be drawn on a log axis
        ax.plot(columns["step"], values, "o-", markersize=2, linewidth=1, color=colour, label=name)
    ax.set(yscale="log", xlabel="weight update", ylabel="gradient norm", title="gradient norm per layer group")
    ax.legend(fontsize=7, ncol=min(len(groups), 6), loc="upper center", bbox_to_anchor=(0.5, -0.18))
    ax.grid(alpha=0.3, which="both")
    return save(fig, out)


def per_image_dice(evaluation: dict | None) -> list[tuple[str, float]]:
    """``(stem, dice)`` of every test image with a defined Dice, in the file's order.

    Multilabel evaluations hold their rows per label: an image's Dice is then the mean of its
    labels' defined Dice values.
    """
    if not isinstance(evaluation, dict):
        return []
    rows = evaluation.get("per_image")
    if rows is None and isinstance(evaluation.get("per_label"), dict):
        by_stem: dict[str, list[float]] = {}
        for scores in evaluation["per_label"].values():
            for row in scores.get("per_image") or []:
                if isinstance(row.get("dice"), (int, float)):
                    by_stem.setdefault(str(row["stem"]), []).append(float(row["dice"]))
        return [(stem, float(np.mean(values))) for stem, values in by_stem.items()]
    return [(str(row["stem"]), float(row["dice"])) for row in rows or []
            if isinstance(row.get("dice"), (int, float)) and math.isfinite(row["dice"])]


def plot_dice_histogram(evaluation_json: Path | str | None, out: Path | str) -> Path | None:
    """Histogram of the per-image test Dice (``evaluation.json``), mean and median marked."""
    values = np.array([dice for _, dice in per_image_dice(read_json(evaluation_json))])
    if not values.size:
        return None
    low, high = float(values.min()), float(values.max())
    pad = max(0.01, 0.05 * (high - low))
    bins = np.linspace(max(0.0, low - pad), min(1.0, high + pad), min(20, max(5, values.size)) + 1)
    fig, ax = new_figure(7, 3.5)
    ax.hist(values, bins=bins, color="tab:blue", edgecolor="white")
    ax.axvline(values.mean(), color="tab:red", linestyle="--", label=f"mean {values.mean():.3f}")
    ax.axvline(float(np.median(values)), color="tab:green", linestyle=":", label=f"median {np.median(values):.3f}")
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="Dice of one test image", ylabel="images", title=f"per-image test Dice ({values.size} images)")
    ax.legend(fontsize=8)
    return save(fig, out)


def read_confusion(evaluation_json: Path | str | None) -> np.ndarray | None:
    """The confusion matrix stored in ``evaluation.json`` (key ``confusion`` or ``confusion_matrix``), if any."""
    evaluation = read_json(evaluation_json)
    if not isinstance(evaluation, dict):
        return None
    for key in ("confusion", "confusion_matrix"):
        if evaluation.get(key) is not None:
            matrix = np.asarray(evaluation[key], dtype=np.int64)
            if matrix.ndim in (2, 3) and matrix.shape[-1] == matrix.shape[-2]:
                return matrix
    return None


def _confusion_panel(ax, matrix: np.ndarray, names: list[str], title: str) -> None:
    totals = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    size = 9 if len(names) <= 6 else 6
    for t in range(matrix.shape[0]):
        for p in range(matrix.shape[1]):
            ax.text(p, t, f"{matrix[t, p]}\n{shares[t, p]:.1%}", ha="center", va="center", fontsize=size,
                    color="white" if shares[t, p] > 0.6 else "black")
    ticks = range(len(names))
    ax.set_xticks(ticks, names, rotation=45 if len(names) > 4 else 0)
    ax.set_yticks(ticks, names)
    ax.set(xlabel="predicted class", ylabel="true class", title=title)


def plot_confusion(confusion, out: Path | str, class_names: Sequence[str] | None = None) -> Path | None:
    """Pixel confusion matrix (rows truth, columns prediction): counts and the share of each true class.

    ``confusion`` is a ``(C, C)`` array, or ``(L, 2, 2)`` for multilabel runs (one panel per
    label, named by ``class_names``); ``None`` (nothing to draw) returns ``None``.
    """
    if confusion is None:
        return None
    matrix = np.asarray(confusion, dtype=np.int64)
    if matrix.ndim == 2:
        n = matrix.shape[0]
        fig, ax = new_figure(max(4.0, 1.0 + 0.9 * n), max(3.5, 0.9 * n + 0.8))
        _confusion_panel(ax, matrix, [_name(class_names, k) for k in range(n)], "test pixels")
        return save(fig, out)
    fig, axes = new_figure(3.6 * matrix.shape[0], 3.6, 1, matrix.shape[0])
    for k, ax in enumerate(axes[0]):
        _confusion_panel(ax, matrix[k], ["absent", "present"], _name(class_names, k))
    return save(fig, out)


def plot_class_shares(plan_json: Path | str | None, out: Path | str, class_names: Sequence[str] | None = None,
                      confusion=None) -> Path | None:
    """Share of the pixels of each class: training masks (the plan's fingerprint) and, given a
    ``(C, C)`` test confusion matrix, the test truth and the test predictions beside them."""
    plan = read_json(plan_json) or {}
    fractions = (plan.get("fingerprint") or {}).get("class_fractions")
    if not fractions:
        return None
    bars = [("training masks", np.asarray(fractions, dtype=float))]
    if confusion is not None and np.asarray(confusion).ndim == 2 and np.asarray(confusion).sum() > 0:
        matrix = np.asarray(confusion, dtype=float)
        total = matrix.sum()
        bars += [("test truth", matrix.sum(axis=1) / total), ("test prediction", matrix.sum(axis=0) / total)]
    n = len(fractions)
    width = 0.8 / len(bars)
    fig, ax = new_figure(max(5.0, 1.5 + 0.8 * n * len(bars) / 2), 3.5)
    for i, (label, shares) in enumerate(bars):
        x = np.arange(n) + (i - (len(bars) - 1) / 2) * width
        drawn = ax.bar(x, shares[:n], width=width, label=label)
        ax.bar_label(drawn, labels=[f"{s:.1%}" for s in shares[:n]], fontsize=7)
    ax.set_xticks(range(n), [_name(class_names, k) for k in range(n)])
    ax.set(ylabel="share of pixels", ylim=(0, 1.1), title="class pixel shares")
    ax.legend(fontsize=8)
    return save(fig, out)
