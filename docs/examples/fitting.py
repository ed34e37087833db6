"""Overfitting and underfitting as `segtrain doctor` reports them, on three made-up histories.

Run: python docs/examples/fitting.py (prints its results; used by docs/concepts.md).

A run records one row per epoch in metrics.csv (training loss, validation loss, validation Dice,
learning rate, ...) and one row per weight update in steps.csv. `segtrain doctor RUN` reads them
into a RunHistory and runs every detector; here the histories are written by hand.
"""

from segtrain.diagnosis import RunHistory, diagnose, format_findings
from segtrain.diagnosis import _epochs as rules


def epochs(train_loss, val_loss, val_dice, lr, steps_per_epoch=10):
    return [{"epoch": e, "step": e * steps_per_epoch, "train_loss": t, "val_loss": v, "val_dice": d, "lr": lr}
            for e, (t, v, d) in enumerate(zip(train_loss, val_loss, val_dice), start=1)]


def steps(losses, lr, steps_per_epoch=10):
    return [{"step": s, "epoch": (s - 1) // steps_per_epoch + 1, "lr": lr, "loss": loss, "grad_norm": 0.5}
            for s, loss in enumerate(losses, start=1)]


RUNS = {
    "good fit": RunHistory(epochs=epochs(
        [0.60, 0.42, 0.31, 0.24, 0.19, 0.16, 0.14, 0.13, 0.12, 0.115],
        [0.55, 0.40, 0.30, 0.24, 0.20, 0.18, 0.17, 0.165, 0.16, 0.158],
        [0.50, 0.65, 0.75, 0.81, 0.85, 0.87, 0.88, 0.885, 0.89, 0.892], 1e-3)),
    "overfitting": RunHistory(epochs=epochs(
        [0.60, 0.45, 0.35, 0.28, 0.22, 0.18, 0.15, 0.12, 0.10, 0.09],
        [0.55, 0.42, 0.33, 0.27, 0.24, 0.21, 0.23, 0.26, 0.30, 0.35],
        [0.50, 0.60, 0.70, 0.75, 0.80, 0.83, 0.82, 0.80, 0.78, 0.76], 1e-3)),
    "underfitting": RunHistory(
        epochs=epochs([0.6932, 0.6930, 0.6929, 0.6927, 0.6926], [0.6931, 0.6930, 0.6928, 0.6927, 0.6925],
                      [0.42, 0.58, 0.47, 0.55, 0.51], 1e-7),
        steps=steps([0.6931 + 0.002 * (-1) ** k - 0.00001 * k for k in range(50)], 1e-7)),
}

for name, history in RUNS.items():
    print(f"--- {name}: train loss {history.epochs[0]['train_loss']} -> {history.epochs[-1]['train_loss']}, "
          f"validation loss {history.epochs[0]['val_loss']} -> {history.epochs[-1]['val_loss']}")
    print(format_findings(diagnose(history), history))

print("--- the thresholds behind these two findings (segtrain/diagnosis/_epochs.py)")
print(f"overfitting: at least {rules.OVERFIT_MIN_EPOCHS} epochs after the validation-loss minimum, last validation "
      f"loss more than {rules.OVERFIT_RISE:.0%} above the minimum and rising, training loss falling and at least "
      f"{rules.OVERFIT_TRAIN_FALL:.0%} below its value at the minimum")
print(f"underfitting: over at least {rules.UNDERFIT_MIN_EPOCHS} epochs both losses fell by less than "
      f"{rules.UNDERFIT_MAX_FALL:.0%}, and validation Dice (median of the last 3 epochs) is below "
      f"{rules.UNDERFIT_DICE} or the last training loss is at least {rules.UNDERFIT_NEAR_START} x the first step's loss")
