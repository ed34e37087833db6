"""Findings about how the network learns, from small made-up histories.

Run: python docs/examples/findings_learning.py (prints its results; used by docs/findings.md).

metrics.csv has one row per epoch (losses, validation Dice overall and per class, predicted and
true foreground shares), steps.csv one row per weight update (loss, gradient norm), grads.csv
the gradient norm of each layer group every 10 steps. Here the rows are written by hand and
segtrain's detectors read them as `segtrain doctor` does.
"""

import math

from segtrain.diagnosis import RunHistory, diagnose, format_findings
from segtrain.diagnosis import _epochs as E
from segtrain.diagnosis import _gradients as G
from segtrain.diagnosis import _steps as S

GROUPS = ("enc0", "enc1", "enc2", "enc3", "dec2", "dec1", "dec0", "head")


def steps(losses, norms=None, lr=1e-3, per_epoch=10):
    """steps.csv rows: one per weight update."""
    norms = norms or [0.5] * len(losses)
    return [{"step": s, "epoch": (s - 1) // per_epoch + 1, "lr": lr, "loss": loss, "grad_norm": norm}
            for s, (loss, norm) in enumerate(zip(losses, norms), start=1)]


def epochs(train_loss, val_loss, val_dice, per_epoch=10, **columns):
    """metrics.csv rows: one per epoch; extra columns are lists of one value per epoch."""
    rows = []
    for e, (t, v, d) in enumerate(zip(train_loss, val_loss, val_dice), start=1):
        row = {"epoch": e, "step": e * per_epoch, "train_loss": t, "val_loss": v, "val_dice": d, "lr": 1e-3}
        row.update({name: values[e - 1] for name, values in columns.items()})
        rows.append(row)
    return rows


falling = [0.7 * math.exp(-k / 40) for k in range(60)]
norms = [0.5 + 0.05 * math.sin(k) for k in range(60)]
norms[40] = 9.0
healthy_train = [0.60, 0.42, 0.31, 0.24, 0.19, 0.16]
healthy_val = [0.55, 0.40, 0.30, 0.24, 0.20, 0.18]
CASES = {
    "one gradient norm of 9 among norms near 0.5": RunHistory(steps=steps(falling, norms)),
    "the first layer group gets 1/5000 of the head's gradient": RunHistory(
        steps=steps(falling),
        grads=[{"step": s, **{g: (2e-4 if g == "enc0" else 1.0) for g in GROUPS}} for s in range(10, 70, 10)]),
    "the loss stays at 0.69 for 60 steps": RunHistory(steps=steps([0.693 + 0.003 * (-1) ** k for k in range(60)])),
    "the losses stay near ln 2 for 6 epochs at lr 1e-6": RunHistory(
        epochs=epochs([0.693, 0.692, 0.692, 0.691, 0.691, 0.690], [0.693, 0.693, 0.692, 0.692, 0.691, 0.691],
                      [0.30, 0.31, 0.29, 0.30, 0.31, 0.30]),
        steps=steps([0.693] * 60, lr=1e-6)),
    "validation loss rises after epoch 5 while training loss falls": RunHistory(epochs=epochs(
        [0.60, 0.42, 0.31, 0.24, 0.19, 0.15, 0.12, 0.10, 0.08],
        [0.55, 0.40, 0.30, 0.24, 0.21, 0.23, 0.26, 0.29, 0.33],
        [0.50, 0.65, 0.75, 0.81, 0.84, 0.83, 0.81, 0.80, 0.78])),
    "20% of the validation pixels are foreground, 0.1% predicted": RunHistory(epochs=epochs(
        healthy_train, healthy_val, [0.40, 0.30, 0.05, 0.01, 0.0, 0.0],
        val_fg_true=[0.2] * 6, val_fg_pred=[0.15, 0.12, 0.05, 0.01, 0.001, 0.001])),
    "class 2 (road) stays at Dice 0 while class 1 (car) reaches 0.8": RunHistory(
        epochs=epochs(healthy_train, healthy_val, [0.5, 0.6, 0.6, 0.62, 0.63, 0.63],
                      val_dice_0=[0.9] * 6, val_dice_1=[0.5, 0.6, 0.7, 0.75, 0.8, 0.8], val_dice_2=[0.0] * 6),
        meta={"class_names": ["background", "car", "road"]}),
    "validation Dice swings 0.57, 0.39, 0.33, 0.53, 0.62, 0.30 at lr 8.3e-3": RunHistory(
        epochs=epochs(healthy_train, [0.50, 0.62, 0.70, 0.55, 0.48, 0.74], [0.57, 0.39, 0.33, 0.53, 0.62, 0.30]),
        meta={"lr": 8.3e-3}),
}

for name, history in CASES.items():
    print(f"--- {name}")
    print(format_findings(diagnose(history), history))

print("--- the thresholds behind these findings (segtrain/diagnosis/_gradients.py, _steps.py, _epochs.py)")
print(f"exploding_gradients: a norm above {G.SPIKE_RATIO:g} x the median of the previous {G.SPIKE_WINDOW} (after "
      f"{G.SPIKE_MIN_HISTORY}), or the median of the last tenth of the norms {G.GROWTH_RATIO:g} x that of the first "
      f"tenth; suggested clipping {G.CLIP_FACTOR:g} x the median before the trouble")
print(f"vanishing_gradients: median first/last layer-group norm below {G.VANISH_RATIO:g}, or the first group's norm "
      f"exactly 0 in {G.VANISH_ZERO_SHARE:.0%} of the records")
print(f"loss_not_falling: over the first {S.FIRST_STEPS} steps (at least {S.FIRST_STEPS_MIN} recorded), the mean of "
      f"the last fifth at least {S.NOT_FALLING_RATIO} x the mean of the first fifth")
print(f"predicts_background: in the last {E.BACKGROUND_EPOCHS} epochs less than {E.BACKGROUND_PRED_RATIO:g} x the "
      f"true foreground share predicted, the truth having at least {E.BACKGROUND_MIN_TRUE:.1%} foreground")
print(f"class_zero_dice: a foreground class below Dice {E.DEAD_CLASS_DICE:g} over the last {E.DEAD_CLASS_EPOCHS} "
      f"epochs while another reaches {E.ALIVE_CLASS_DICE:g}")
print(f"unstable_validation: over at least {E.UNSTABLE_MIN_EPOCHS} epochs, the median change of validation Dice "
      f"between epochs against its Theil-Sen trend at least {E.UNSTABLE_SWING:g} and {E.UNSTABLE_TREND_RATIO:g} x the "
      f"trend per epoch, changing direction at least {E.UNSTABLE_REVERSALS:.0%} of the time")
