"""Findings about failed training steps, from small made-up histories.

Run: python docs/examples/findings_failed_steps.py (prints its results; used by docs/findings.md).

During training, a step whose loss or gradients are not finite, or whose loss explodes, is rolled
back, and training records an event in events.jsonl with its evidence (label values outside the
classes, the files of non-finite inputs, whether float32 would have been finite). Every step's
loss goes to steps.csv. Here the records are written by hand, in the form training writes them,
and segtrain's detectors read them as `segtrain doctor` does.
"""

from segtrain.config import SegtrainConfig
from segtrain.diagnosis import RunHistory, diagnose, format_findings
from segtrain.diagnosis import _steps as steps_rules


def steps(losses, lr=1e-3, grad_norm=0.5, per_epoch=10):
    """steps.csv rows: one per weight update."""
    return [{"step": s, "epoch": (s - 1) // per_epoch + 1, "lr": lr, "loss": loss, "grad_norm": grad_norm}
            for s, loss in enumerate(losses, start=1)]


def nonfinite(step, evidence, precision="32", lr=1e-3, recoveries=1):
    """An events.jsonl record of a rolled-back step whose loss was not finite."""
    return {"kind": "nonfinite", "step": step, "epoch": 1, "loss": float("nan"), "lr": lr, "what": "loss",
            "precision": precision, "evidence": {"labels_out_of_range": [], "num_classes": 2, "nonfinite_inputs": [],
                                                 "fp32_finite": None, **evidence},
            "action": f"rolled back to the weights of step {step - step % 10}, skipped the batch, learning rate x0.5",
            "recoveries": recoveries}


falling = [0.7 - 0.01 * k for k in range(30)]
CASES = {
    "masks hold 255 where the model has 2 classes": RunHistory(
        steps=steps(falling), events=[nonfinite(12, {"labels_out_of_range": [255]})]),
    "an image holds NaN values": RunHistory(
        steps=steps(falling), events=[nonfinite(17, {"nonfinite_inputs": ["DATA/images/frame_031.tif"]})]),
    "float16 overflowed; the same batch in float32 was finite": RunHistory(
        steps=steps(falling), events=[nonfinite(21, {"fp32_finite": True}, precision="16-mixed")]),
    "a non-finite loss with clean labels and inputs, in float32": RunHistory(
        steps=steps(falling), events=[nonfinite(25, {})]),
    "at lr 0.05 the loss went from 0.44 to 30, 800, 4000, 9000": RunHistory(
        steps=steps([0.7, 0.65, 0.6, 0.58, 0.55, 0.5, 0.48, 0.47, 0.45, 0.44, 30.0, 800.0, 4000.0, 9000.0], lr=0.05)),
    "three roll-backs, then training stopped (events of the stop only)": RunHistory(
        steps=steps(falling), events=[{"kind": "stop", "step": 30, "epoch": 3, "reason": "nonfinite",
                                       "detail": "stopped after 3 roll-backs; the weights of step 20 are kept"}]),
}

for name, history in CASES.items():
    print(f"--- {name}")
    print(format_findings(diagnose(history), history))

train = SegtrainConfig().train
print("--- the rules behind these findings (segtrain/diagnosis/_steps.py, the train section of the config)")
print(f"a failed step is rolled back, its batch skipped and the learning rate multiplied by {train.recovery_lr_factor} "
      f"(train.recovery_lr_factor); a failure after {train.max_recoveries} roll-backs (train.max_recoveries) "
      "stops training")
print(f"lr_too_high: the loss at least {steps_rules.BLOWUP_RATIO:g} x its running minimum (rolling median of "
      f"{steps_rules.SMOOTH_WINDOW} steps) for {steps_rules.BLOWUP_SUSTAIN} steps in a row; a non-finite step counts "
      f"when the loss was rising before it (the last {steps_rules.RISE_RECENT_STEPS} steps "
      f"{steps_rules.RISE_RATIO:g} x the earlier minimum) or the rate is at least {steps_rules.LR_IMPLAUSIBLE:g}")
print(f"precision_overflow: only in reduced precision (not {', '.join(steps_rules.FULL_PRECISION)})")
