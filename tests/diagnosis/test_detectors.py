"""Each detector fires on a crafted pathological history and stays silent on a healthy one."""

import json
import math
import random

import pytest

from segtrain.diagnosis import detectors as d
from segtrain.diagnosis._numbers import num
from segtrain.diagnosis.findings import Finding
from segtrain.diagnosis.history import RunHistory


def _codes(findings):
    return [f.code for f in findings]


def _only(findings, code):
    matching = [f for f in findings if f.code == code]
    assert len(matching) == 1, [f.format() for f in findings]
    return matching[0]


def _steps(losses, lr=1e-3, start=1, per_epoch=10):
    return [{"step": start + i, "epoch": (start + i - 1) // per_epoch + 1, "lr": lr, "loss": float(x)}
            for i, x in enumerate(losses)]


def _epochs(train, val, **columns):
    rows = []
    for i, (t, v) in enumerate(zip(train, val)):
        row = {"epoch": i + 1, "step": 10 * (i + 1), "train_loss": t, "val_loss": v}
        row.update({name: values[i] for name, values in columns.items()})
        rows.append(row)
    return rows


def _nonfinite(step, *, labels=(), num_classes=3, inputs=(), precision="32", fp32_finite=None, lr=1e-3):
    return {"kind": "nonfinite", "step": step, "epoch": 1, "what": "loss", "loss": math.nan, "lr": lr,
            "precision": precision, "action": "rolled back to the weights of step 1, skipped the batch",
            "recoveries": 1, "evidence": {"labels_out_of_range": list(labels), "num_classes": num_classes,
                                          "nonfinite_inputs": list(inputs), "fp32_finite": fp32_finite}}


def _noisy(n, level, seed=1, sigma=0.1):
    rng = random.Random(seed)
    return [level * math.exp(rng.gauss(0, sigma)) for _ in range(n)]


# --- the healthy run -------------------------------------------------------------------------


@pytest.mark.parametrize("detector", d.ALL_DETECTORS, ids=lambda f: f.__name__)
def test_no_detector_fires_on_the_healthy_run(detector, healthy):
    assert detector(healthy) == []


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("epochs", [1, 2, 5, 60])
def test_healthy_runs_of_any_length_give_no_problem(healthy_factory, epochs, seed):
    findings = d.run_detectors(healthy_factory(epochs=epochs, seed=seed))
    assert [f for f in findings if f.severity != "info"] == []


def test_healthy_run_with_early_stopping_gives_only_info(healthy):
    healthy.events = [{"kind": "stop", "step": 300, "epoch": 30, "reason": "early_stopping", "detail": "",
                       "best_epoch": 22, "best_score": 0.934, "patience": 8, "monitor": "val/dice"}]
    finding = _only(d.run_detectors(healthy), "early_stopping")
    assert finding.severity == "info"
    assert finding.message == ("stopped early at epoch 30: validation Dice has not improved for 8 epochs "
                               "since epoch 22 (best 0.93)")


# --- edge cases --------------------------------------------------------------------------------


def test_empty_history_gives_nothing():
    assert d.run_detectors(RunHistory()) == []


def test_one_epoch_gives_nothing(healthy):
    history = RunHistory(epochs=healthy.epochs[:1], steps=healthy.steps[:10], grads=healthy.grads[:1])
    assert d.run_detectors(history) == []


def test_nan_cells_and_missing_columns_do_not_break_detectors(healthy):
    old = [{k: v for k, v in row.items() if k in ("epoch", "step", "train_loss", "val_loss", "val_dice")}
           for row in healthy.epochs]
    for row in old[::3]:
        row["val_loss"] = math.nan
        row["val_dice"] = math.nan
    steps = [{"step": r["step"], "epoch": r["epoch"], "lr": r["lr"], "loss": r["loss"]} for r in healthy.steps]
    steps[7]["loss"] = math.nan
    steps[8]["loss"] = math.inf
    findings = d.run_detectors(RunHistory(epochs=old, steps=steps))
    assert [f for f in findings if f.severity != "info"] == []


def test_unknown_event_kinds_are_ignored(healthy):
    healthy.events.append({"kind": "something_new", "step": 5, "epoch": 1, "value": 3})
    assert d.run_detectors(healthy) == []


def test_a_failing_detector_becomes_a_finding(healthy):
    def broken(history):
        raise RuntimeError("boom")

    findings = d.run_detectors(healthy, detectors=[broken, d.detect_overfitting])
    assert _codes(findings) == ["detector_failed"] and "boom" in findings[0].message


def test_findings_are_sorted_by_severity_then_step():
    history = RunHistory(events=[
        {"kind": "oom", "step": 1, "epoch": 1, "micro_batch_before": 16, "micro_batch_after": 8,
         "accumulate_before": 1, "accumulate_after": 2, "device": "cuda:0"},
        {"kind": "workers", "step": 9, "epoch": 1, "reason": "shm too small"},
        {"kind": "nonfinite", **_nonfinite(7, labels=[5])},
        {"kind": "workers", "step": 3, "epoch": 1, "reason": "shm too small"},
    ])
    findings = d.run_detectors(history)
    assert [(f.severity, f.code) for f in findings] == [
        ("error", "labels_out_of_range"), ("warning", "workers_fallback"), ("info", "out_of_memory")]


def test_every_code_is_documented_and_evidence_is_strict_json(healthy):
    history = RunHistory(steps=_steps([0.69, 1.6e8, math.inf, math.nan]),
                         events=[_nonfinite(3, lr=1e4), {"kind": "stop", "step": 4, "epoch": 1, "reason": "nonfinite"}])
    findings = d.run_detectors(history)
    assert findings
    for finding in findings:
        assert finding.code in d.CODES
        json.dumps(finding.to_dict(), allow_nan=False)


# --- 1. non-finite steps -------------------------------------------------------------------------


def test_labels_out_of_range_are_named(healthy):
    healthy.events += [_nonfinite(5, labels=[3, 255]), _nonfinite(9, labels=[255]), _nonfinite(12, labels=[3])]
    finding = _only(d.detect_nonfinite(healthy), "labels_out_of_range")
    assert finding.severity == "error" and finding.step == 5
    assert "[3, 255]" in finding.message and "3 classes" in finding.message and "3 steps" in finding.message
    assert "if 3 is a real class use --num-classes 4" in finding.fix and "segtrain check" in finding.fix
    assert "data.ignore_index: 255" in finding.fix
    assert finding.evidence["count"] == 3


def test_nonfinite_inputs_name_up_to_three_files(healthy):
    files = [f"img{i}.tif" for i in range(5)]
    healthy.events.append(_nonfinite(7, inputs=files))
    finding = _only(d.detect_nonfinite(healthy), "nonfinite_inputs")
    assert "img0.tif, img1.tif, img2.tif and 2 more" in finding.message
    assert "img3.tif" not in finding.message


def test_labels_take_priority_over_inputs(healthy):
    healthy.events.append(_nonfinite(7, labels=[4], inputs=["a.png"]))
    assert _codes(d.detect_nonfinite(healthy)) == ["labels_out_of_range"]


def test_precision_overflow(healthy):
    healthy.events.append(_nonfinite(150, precision="16-mixed", fp32_finite=True))
    finding = _only(d.detect_nonfinite(healthy), "precision_overflow")
    assert finding.severity == "warning"  # training recovered
    assert "16-mixed" in finding.message and "bf16-mixed" in finding.fix and "--precision 32" in finding.fix


def test_not_precision_when_float32_also_fails(healthy):
    healthy.events.append(_nonfinite(150, precision="16-mixed", fp32_finite=False))
    finding = _only(d.detect_nonfinite(healthy), "nonfinite_loss")
    assert "cause unknown" in finding.message and "not finite either" in finding.message


def test_unknown_cause_states_the_facts(healthy):
    healthy.events.append(_nonfinite(150, lr=1e-3))
    finding = _only(d.detect_nonfinite(healthy), "nonfinite_loss")
    assert "cause unknown" in finding.message and "step 150" in finding.message and "0.001" in finding.message
    assert d.detect_lr_too_high(healthy) == []


def test_nonfinite_after_a_rising_loss_is_the_learning_rate():
    losses = _noisy(30, 0.5) + [0.8, 1.5, 2.5, 4.0, 6.0]
    history = RunHistory(steps=_steps(losses, lr=0.3), events=[_nonfinite(36, lr=0.3)])
    assert d.detect_nonfinite(history) == []
    finding = _only(d.detect_lr_too_high(history), "lr_too_high")
    assert "learning rate 0.3" in finding.message and finding.step == 35  # where the blow-up began
    assert "--lr 0.03" in finding.fix


def test_nonfinite_at_the_first_steps_with_an_absurd_lr_is_the_learning_rate():
    events = [_nonfinite(s, lr=lr) for s, lr in ((2, 1e4), (3, 5e3), (4, 2.5e3))]
    events.append({"kind": "stop", "step": 4, "epoch": 1, "reason": "nonfinite", "detail": "3 roll-backs"})
    history = RunHistory(steps=_steps([0.69], lr=1e4), events=events)
    findings = d.run_detectors(history)
    assert _codes(findings) == ["lr_too_high"]
    assert findings[0].severity == "error"
    assert findings[0].message.startswith("the learning rate 1e4 is too high: the training loss became non-finite "
                                          "at step 2 (3 non-finite steps at learning rates 1e4 -> 5000 -> 2500)")


def test_stopped_training_is_an_error_and_says_so(healthy):
    healthy.events += [_nonfinite(150, precision="16-mixed", fp32_finite=True),
                       {"kind": "stop", "step": 151, "epoch": 16, "reason": "nonfinite", "detail": "3 recoveries"}]
    finding = _only(d.run_detectors(healthy), "precision_overflow")
    assert finding.severity == "error"
    assert "training stopped at step 151" in finding.message and "best.ckpt" in finding.message
    assert "training_stopped" not in _codes(d.run_detectors(healthy))


# --- 2. learning rate too high -------------------------------------------------------------------


def test_lr_1e4_from_steps_alone():
    history = RunHistory(steps=_steps([0.69, 1.6e8, 4e7, 2e7, 9e6], lr=1e4))
    finding = _only(d.run_detectors(history), "lr_too_high")
    assert "learning rate 1e4" in finding.message
    assert "0.69" in finding.message and "1.6e8" in finding.message and finding.step == 2
    assert finding.severity == "warning"


def test_lr_1e4_record_ending_after_two_steps():
    history = RunHistory(steps=_steps([0.69, 1.6e8], lr=1e4))
    assert _codes(d.detect_lr_too_high(history)) == ["lr_too_high"]


def test_lr_1e4_from_divergence_events_with_a_stop():
    events = [{"kind": "divergence", "step": s, "epoch": 1, "loss": loss, "reference_loss": 0.69, "lr": lr,
               "action": f"rolled back, learning rate x0.5 -> {lr / 2:g}", "recoveries": i + 1}
              for i, (s, loss, lr) in enumerate([(2, 1.6e8, 1e4), (3, 3e7, 5e3), (4, 8e6, 2.5e3)])]
    events.append({"kind": "stop", "step": 4, "epoch": 1, "reason": "divergence", "detail": "3 recoveries"})
    history = RunHistory(steps=_steps([0.69]), events=events)
    findings = d.run_detectors(history)
    finding = _only(findings, "lr_too_high")
    assert finding.severity == "error" and findings[0] is finding
    assert "learning rate 1e4" in finding.message and "3 divergence events" in finding.message
    assert "1e4 -> 5000 -> 2500" in finding.message
    assert "training stopped at step 4" in finding.message and "best.ckpt" in finding.message
    assert "--lr 1e-3" in finding.fix and "lr-find" in finding.fix  # 10x lower (250) would still be far too high


def test_divergence_and_steps_and_nonfinite_merge_into_one_finding():
    history = RunHistory(
        steps=_steps([0.69, 1.6e8, 4e7, 3e7], lr=1e4),
        events=[{"kind": "divergence", "step": 2, "epoch": 1, "loss": 1.6e8, "reference_loss": 0.69, "lr": 1e4},
                _nonfinite(5, lr=1e4)])
    findings = d.run_detectors(history)
    assert _codes(findings).count("lr_too_high") == 1
    assert "nonfinite_loss" not in _codes(findings)


def test_no_lr_finding_for_a_healthy_noisy_fall():
    rng = random.Random(3)
    losses = [max(0.05, 0.7 * math.exp(-s / 80)) * math.exp(rng.gauss(0, 0.3)) for s in range(400)]
    assert d.detect_lr_too_high(RunHistory(steps=_steps(losses))) == []


def test_single_spike_is_not_divergence():
    losses = _noisy(50, 0.3) + [5.0] + _noisy(50, 0.3, seed=2)
    assert d.detect_lr_too_high(RunHistory(steps=_steps(losses))) == []


def test_near_zero_loss_wobbling_is_not_divergence():
    losses = [0.69 * math.exp(-s / 10) for s in range(100)] + [1e-3] * 10
    assert d.detect_lr_too_high(RunHistory(steps=_steps(losses))) == []


def test_mid_run_divergence_from_steps():
    losses = [0.7 * math.exp(-s / 30) + 0.05 for s in range(100)] + [3.0, 8.0, 20.0, 40.0]
    finding = _only(d.detect_lr_too_high(RunHistory(steps=_steps(losses, lr=0.05))), "lr_too_high")
    assert finding.step == 101 and "learning rate 0.05" in finding.message


# --- 3. exploding gradients ----------------------------------------------------------------------


def test_gradient_spike(healthy):
    healthy.steps[199]["grad_norm"] = 80.0
    finding = _only(d.detect_exploding_gradients(healthy), "exploding_gradients")
    assert finding.step == 200 and finding.severity == "warning"
    median = finding.evidence["median_before"]
    assert f"--clip-grad {num(2 * median)}" in finding.fix
    assert "80" in finding.message


def test_gradient_spike_before_clipping_was_switched_on_is_info(healthy):
    healthy.steps[199]["grad_norm"] = 80.0
    healthy.events.append({"kind": "clip", "step": 201, "epoch": 21, "max_norm": 1.5, "reason": "spike"})
    finding = _only(d.detect_exploding_gradients(healthy), "exploding_gradients")
    assert finding.severity == "info" and "switched on at step 201" in finding.message


def test_gradient_growth():
    steps = [{"step": s, "epoch": 1, "lr": 1e-3, "loss": 0.5, "grad_norm": 0.5 * 1.03 ** s} for s in range(1, 301)]
    finding = _only(d.detect_exploding_gradients(RunHistory(steps=steps)), "exploding_gradients")
    assert "grew" in finding.message and finding.evidence["growth_ratio"] >= 100


def test_gradient_spike_from_grads_csv_of_an_old_run(healthy):
    for row in healthy.steps:
        del row["grad_norm"]
    for row in healthy.grads[20:21]:
        row["head"] = 500.0
    finding = _only(d.detect_exploding_gradients(healthy), "exploding_gradients")
    assert finding.step == healthy.grads[20]["step"]


# --- 4. vanishing gradients ----------------------------------------------------------------------


def test_vanishing_gradients(healthy):
    for row in healthy.grads:
        row["enc0"] *= 1e-5
        row["enc1"] *= 1e-4
    finding = _only(d.detect_vanishing_gradients(healthy), "vanishing_gradients")
    assert "enc0" in finding.message and "head" in finding.message and "enc1" in finding.message
    assert "--norm batch" in finding.fix and "--init kaiming" in finding.fix


def test_zero_early_gradients(healthy):
    for row in healthy.grads:
        row["enc0"] = 0.0
    finding = _only(d.detect_vanishing_gradients(healthy), "vanishing_gradients")
    assert "exactly 0 in 30 of 30 records" in finding.message


def test_one_group_or_few_records_give_nothing():
    grads = [{"step": s, "all": 1e-9} for s in (10, 20, 30)]
    assert d.detect_vanishing_gradients(RunHistory(grads=grads)) == []
    grads = [{"step": 10, "enc0": 1e-9, "head": 1.0}]
    assert d.detect_vanishing_gradients(RunHistory(grads=grads)) == []


# --- 5. overfitting ------------------------------------------------------------------------------


def test_overfitting():
    train = [0.6, 0.45, 0.35, 0.28, 0.22, 0.18, 0.15, 0.12, 0.10, 0.09]
    val = [0.55, 0.42, 0.33, 0.27, 0.24, 0.21, 0.23, 0.26, 0.30, 0.35]
    dice = [0.5, 0.6, 0.7, 0.75, 0.8, 0.83, 0.82, 0.8, 0.78, 0.76]
    finding = _only(d.detect_overfitting(RunHistory(epochs=_epochs(train, val, val_dice=dice))), "overfitting")
    assert finding.epoch == 7
    assert "risen for 4 epochs since epoch 7" in finding.message
    assert "0.21" in finding.message and "0.35" in finding.message
    assert "(0.18 -> 0.09)" in finding.message and "gap grew from 0.03 to 0.26" in finding.message
    assert "best.ckpt keeps epoch 6" in finding.fix


def test_noisy_but_improving_validation_loss_is_not_overfitting():
    train = [0.6, 0.5, 0.42, 0.36, 0.31, 0.27, 0.24, 0.21, 0.19, 0.17]
    val = [0.5, 0.4, 0.2, 0.35, 0.3, 0.28, 0.26, 0.25, 0.24, 0.23]  # one lucky low epoch
    assert d.detect_overfitting(RunHistory(epochs=_epochs(train, val))) == []


def test_a_small_rise_is_not_overfitting():
    train = [0.6, 0.4, 0.3, 0.25, 0.2, 0.18, 0.16, 0.15]
    val = [0.5, 0.35, 0.3, 0.2, 0.202, 0.205, 0.207, 0.21]  # +5%
    assert d.detect_overfitting(RunHistory(epochs=_epochs(train, val))) == []


def test_two_epochs_of_rise_are_not_enough():
    train = [0.6, 0.4, 0.3, 0.25, 0.2, 0.18]
    val = [0.5, 0.35, 0.3, 0.2, 0.3, 0.4]
    assert d.detect_overfitting(RunHistory(epochs=_epochs(train, val))) == []


def test_rise_without_falling_training_loss_is_not_overfitting():
    train = [0.6, 0.4, 0.3, 0.25, 0.26, 0.28, 0.3, 0.33]
    val = [0.5, 0.35, 0.3, 0.2, 0.24, 0.27, 0.3, 0.34]
    assert d.detect_overfitting(RunHistory(epochs=_epochs(train, val))) == []


# --- 6. underfitting -----------------------------------------------------------------------------


def _tiny_lr_run(with_steps=True):
    train = [0.6932, 0.6930, 0.6929, 0.6927, 0.6926]
    val = [0.6931, 0.6930, 0.6928, 0.6927, 0.6925]
    dice = [0.42, 0.58, 0.47, 0.55, 0.51]
    steps = _steps(_noisy(50, 0.693, sigma=0.01), lr=1e-7) if with_steps else []
    return RunHistory(epochs=_epochs(train, val, val_dice=dice, lr=[1e-7] * 5), steps=steps)


def test_underfitting_at_lr_1e_minus_7():
    history = _tiny_lr_run()
    finding = _only(d.run_detectors(history), "underfitting")
    assert finding.severity == "warning" and "5 epochs" in finding.message
    assert "0.69" in finding.message and "Dice is 0.51" in finding.message
    assert "1e-7" in finding.fix and "lr-find" in finding.fix and "model.width" in finding.fix


def test_underfitting_without_steps_needs_a_low_dice():
    history = _tiny_lr_run(with_steps=False)
    assert d.detect_underfitting(history) == []  # Dice 0.51: not clearly poor, nothing else to go on
    for row in history.epochs:
        row["val_dice"] = 0.3
    assert _codes(d.detect_underfitting(history)) == ["underfitting"]


def test_flat_but_good_is_not_underfitting():
    train = [0.15, 0.145, 0.142, 0.14]
    val = [0.16, 0.155, 0.152, 0.15]
    history = RunHistory(epochs=_epochs(train, val, val_dice=[0.93, 0.94, 0.945, 0.95]),
                         steps=_steps([0.69] + _noisy(39, 0.15)))
    assert d.detect_underfitting(history) == []


def test_a_diverged_run_is_not_underfitting():
    history = RunHistory(epochs=_epochs([2e7, 2e7, 2e7], [3e7, 3e7, 3e7], val_dice=[0.0] * 3),
                         steps=_steps([0.69, 1.6e8, 4e7, 2e7, 2e7], lr=1e4))
    assert _codes(d.run_detectors(history)) == ["lr_too_high"]


def test_two_epochs_are_not_enough_for_underfitting():
    history = _tiny_lr_run()
    history.epochs = history.epochs[:2]
    assert d.detect_underfitting(history) == []


# --- 6b. unstable validation score --------------------------------------------------------------


SWINGING_DICE = [0.57, 0.39, 0.33, 0.53, 0.62, 0.30]  # a real run at a too-high learning rate


def _dice_run(dice, **meta):
    train = [0.6 * 0.85 ** i for i in range(len(dice))]  # a training loss that falls: the model learns
    val = [0.65 * 0.9 ** i for i in range(len(dice))]
    return RunHistory(epochs=_epochs(train, val, val_dice=dice), meta=meta)


def test_swinging_validation_dice_is_unstable():
    finding = _only(d.run_detectors(_dice_run(SWINGING_DICE)), "unstable_validation")
    assert finding.severity == "warning" and finding.epoch == 2
    assert "validation Dice swung 0.57 -> 0.39 -> 0.33 -> 0.53 -> 0.62 -> 0.30" in finding.message
    assert "typical change 0.17 between epochs" in finding.message
    assert "--lr" in finding.fix and "--batch-size" in finding.fix and "validation split" in finding.fix
    assert finding.evidence["reversals"] == 2 and finding.evidence["pairs"] == 4
    json.dumps(finding.to_dict(), allow_nan=False)


def test_unstable_fix_names_a_third_of_the_lr_and_a_larger_batch():
    finding = _only(d.detect_unstable_validation(_dice_run(SWINGING_DICE, lr=3e-3, batch_size=8)),
                    "unstable_validation")
    assert f"--lr {num(1e-3)}" in finding.fix and "a third of the run's 0.003" in finding.fix
    assert "--batch-size 16, now 8" in finding.fix


def test_swings_around_a_rising_trend_are_unstable():
    dice = [0.3, 0.5, 0.35, 0.55, 0.45, 0.6]
    assert _codes(d.detect_unstable_validation(_dice_run(dice))) == ["unstable_validation"]


@pytest.mark.parametrize("dice", [
    [0.3, 0.5, 0.62, 0.7, 0.74, 0.76],  # a smooth learning curve
    [0.1, 0.5, 0.7, 0.78, 0.8, 0.81],  # a fast rise, then a plateau
    [0.3, 0.4, 0.5, 0.6],  # rises 0.3 in steps of 0.1
    [0.3, 0.45, 0.4, 0.55, 0.5, 0.65],  # two steps forward, one back: the swing is below the rise
], ids=["smooth", "fast-rise", "steps", "two-forward-one-back"])
def test_learning_curves_are_not_unstable(dice):
    assert d.detect_unstable_validation(_dice_run(dice)) == []


@pytest.mark.parametrize("seed", range(5))
def test_a_rising_curve_with_small_noise_is_not_unstable(seed):
    rng = random.Random(seed)
    dice = [0.85 - 0.5 * math.exp(-i / 3) + rng.uniform(-0.01, 0.01) for i in range(12)]
    assert d.detect_unstable_validation(_dice_run(dice)) == []


@pytest.mark.parametrize("seed", range(5))
def test_a_wobbling_plateau_is_not_unstable(seed):
    rng = random.Random(seed)
    dice = [0.8 + rng.uniform(-0.02, 0.02) for _ in range(10)]
    assert d.detect_unstable_validation(_dice_run(dice)) == []
    alternating = [0.8 + (0.02 if i % 2 else -0.02) for i in range(10)]  # the largest such wobble
    assert d.detect_unstable_validation(_dice_run(alternating)) == []


def test_fewer_than_four_epochs_are_not_enough_for_unstable():
    assert d.detect_unstable_validation(_dice_run(SWINGING_DICE[:3])) == []


def test_unstable_skips_nan_epochs():
    history = _dice_run(SWINGING_DICE[:3] + [math.nan] + SWINGING_DICE[3:])
    finding = _only(d.detect_unstable_validation(history), "unstable_validation")
    assert "0.57 -> 0.39 -> 0.33 -> 0.53 -> 0.62 -> 0.30" in finding.message and "nan" not in finding.message
    history = _dice_run([0.57, math.nan, 0.39, math.nan, 0.33, math.nan])
    assert d.detect_unstable_validation(history) == []  # 3 finite epochs


def test_noise_of_a_model_that_does_not_learn_is_left_to_underfitting():
    history = _tiny_lr_run()  # Dice 0.42 .. 0.58 at lr 1e-7, flat losses
    assert "unstable_validation" not in _codes(d.run_detectors(history))


# --- 7. loss not falling in the first steps ------------------------------------------------------


def test_loss_not_falling():
    history = RunHistory(steps=_steps(_noisy(100, 0.69, sigma=0.02), lr=1e-6))
    finding = _only(d.detect_loss_not_falling(history), "loss_not_falling")
    assert finding.severity == "warning" and "first 100 steps" in finding.message
    assert "lr 1e-6" in finding.fix and "segtrain check" in finding.fix


def test_loss_falling_later_is_info():
    losses = _noisy(100, 0.69, sigma=0.02) + [0.69 * math.exp(-s / 50) for s in range(200)]
    finding = _only(d.detect_loss_not_falling(RunHistory(steps=_steps(losses))), "loss_not_falling")
    assert finding.severity == "info" and "fell later" in finding.message


def test_too_few_steps_give_nothing():
    assert d.detect_loss_not_falling(RunHistory(steps=_steps([0.69] * 15))) == []


def test_blown_up_loss_is_left_to_lr_too_high():
    history = RunHistory(steps=_steps([0.69] * 5 + [1e6] * 30))
    assert d.detect_loss_not_falling(history) == []


# --- 8. predicts only background -----------------------------------------------------------------


def _fg_history(pred, true=0.12):
    n = len(pred)
    return RunHistory(epochs=_epochs([0.5] * n, [0.5] * n, val_fg_pred=pred, val_fg_true=[true] * n))


def test_predicts_only_background_after_a_collapse():
    finding = _only(d.detect_predicts_background(_fg_history([0.05, 0.11, 0.12, 0.002, 0.001])),
                    "predicts_background")
    assert "0.1%" in finding.message and "12%" in finding.message
    assert "collapsed" in finding.message and "epoch 3" in finding.message
    assert "--loss dice+ce" in finding.fix and "--class-weights frequency" in finding.fix
    assert finding.epoch == 4


def test_background_once_is_not_enough():
    assert d.detect_predicts_background(_fg_history([0.11, 0.12, 0.001])) == []


def test_background_with_almost_no_foreground_is_fine():
    assert d.detect_predicts_background(_fg_history([0.0, 0.0, 0.0], true=0.001)) == []


def test_background_from_the_start_of_a_one_epoch_run():
    finding = _only(d.detect_predicts_background(_fg_history([0.0])), "predicts_background")
    assert "collapsed" not in finding.message


# --- 9. one class stuck at zero Dice -------------------------------------------------------------


def test_class_stuck_at_zero_dice():
    n = 6
    history = RunHistory(
        epochs=_epochs([0.5] * n, [0.5] * n, val_dice_0=[0.98] * n, val_dice_1=[0.5, 0.6, 0.7, 0.75, 0.8, 0.82],
                       val_dice_2=[0.1, 0.02, 0.0, 0.0, 0.0, 0.0]),
        meta={"class_names": ["background", "building", "road"]})
    finding = _only(d.detect_class_zero_dice(history), "class_zero_dice")
    assert finding.message.startswith("class 2 (road) has validation Dice below 0.01 over the last 4 epochs")
    assert "0.80" in finding.message and finding.epoch == 3
    assert "--class-weights frequency" in finding.fix and "class 2 (road)" in finding.fix


def test_absent_class_is_not_stuck():
    n = 4
    history = RunHistory(epochs=_epochs([0.5] * n, [0.5] * n, val_dice_1=[0.8] * n, val_dice_2=[math.nan] * n))
    assert d.detect_class_zero_dice(history) == []


def test_binary_zero_dice_is_left_to_predicts_background():
    n = 4
    history = RunHistory(epochs=_epochs([0.5] * n, [0.5] * n, val_dice_0=[0.9] * n, val_dice_1=[0.0] * n))
    assert d.detect_class_zero_dice(history) == []


# --- 10. data loading, 11. memory ----------------------------------------------------------------


def test_limited_by_data_loading(healthy):
    for row in healthy.epochs:
        row["data_share"] = 0.72
    healthy.meta["num_workers"] = 2
    finding = _only(d.detect_data_loading(healthy), "data_loading")
    assert "72%" in finding.message and "train.num_workers: 4" in finding.fix and "JPEG" in finding.fix


def test_memory_high(healthy):
    healthy.epochs[4]["peak_memory_mb"] = 9500.0
    healthy.meta["batch_size"] = 16
    finding = _only(d.detect_memory_high(healthy), "memory_high")
    assert "9,500 MB" in finding.message and "10,000 MB" in finding.message and "95%" in finding.message
    assert finding.epoch == 5 and "--batch-size (now 16; try 8)" in finding.fix


# --- 12-14. events -------------------------------------------------------------------------------


def test_failure_stop_without_step_events_is_reported():
    history = RunHistory(events=[{"kind": "stop", "step": 40, "epoch": 4, "reason": "nonfinite", "detail": "x"}])
    finding = _only(d.detect_stop(history), "training_stopped")
    assert finding.severity == "error" and "best.ckpt" in finding.message


def test_early_stopping_without_a_best_epoch():
    event = {"kind": "stop", "step": 90, "epoch": 9, "reason": "early_stopping", "best_epoch": None,
             "best_score": None, "patience": 5, "monitor": "val/dice"}
    finding = _only(d.detect_stop(RunHistory(events=[event])), "early_stopping")
    assert finding.message == "stopped early at epoch 9: validation Dice has not improved for 5 epochs"


def test_normal_stops_give_nothing():
    for reason in ("budget", "planned end"):
        assert d.detect_stop(RunHistory(events=[{"kind": "stop", "step": 1, "epoch": 1, "reason": reason}])) == []


def test_out_of_memory_message():
    history = RunHistory(events=[{"kind": "oom", "step": 12, "epoch": 2, "micro_batch_before": 16,
                                  "micro_batch_after": 8, "accumulate_before": 1, "accumulate_after": 2,
                                  "device": "cuda:0"}])
    finding = _only(d.detect_oom(history), "out_of_memory")
    assert finding.severity == "info"
    assert finding.message == ("out of memory at step 12 on cuda:0: micro-batch halved 16 -> 8, gradient "
                               "accumulation doubled 1 -> 2; the effective batch (16) and the schedule are unchanged")


def test_workers_fallback_is_aggregated():
    events = [{"kind": "workers", "step": s, "epoch": 1, "reason": "shared memory too small"} for s in (0, 100)]
    finding = _only(d.detect_workers_fallback(RunHistory(events=events)), "workers_fallback")
    assert finding.severity == "warning" and "2 times" in finding.message and "shared memory" in finding.message


def test_detectors_return_findings():
    assert all(isinstance(f, Finding) for f in d.run_detectors(_tiny_lr_run()))
