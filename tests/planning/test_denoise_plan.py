"""The denoising plan: patches, batch, steps = ceil(patches / batch), epochs from the budget, images seen."""

from __future__ import annotations

from segtrain.config.schema import SegtrainConfig
from segtrain.planning.denoise import N2V_LR, plan_denoise


def _cfg(**train):
    return SegtrainConfig.model_validate({"train": {"task": "denoise", **train}})


def test_plan_numbers_follow_the_formulas():
    sizes = [(256, 256)] * 28 + [(200, 130)]  # 16 patches each, and 3 x 2 = 6
    plan = plan_denoise(_cfg(budget_s=120), sizes, [(256, 256)] * 6, 1, "cpu", step_s=0.5)
    assert plan["patch_size"] == 64
    assert plan["patches"] == 28 * 16 + 6 == 454
    assert plan["batch_size"] == 16
    assert plan["steps_per_epoch"] == 29  # ceil(454 / 16) = 28.375 -> 29
    # validation: one 256-px tile per image, 16 patches' worth of pixels, a forward a third of a step
    val_s = 1.3 * 6 * 16 * 0.5 / 16 / 3
    assert plan["validation_seconds"] == round(val_s, 3)
    assert plan["epochs"] == int(120 // (29 * 0.5 + val_s)) == 7  # 120 / 15.8 = 7.6
    assert plan["total_steps"] == 29 * 7
    assert plan["samples_seen"] == 16 * 29 * 7 == 3248
    assert plan["precision"] == "32"
    assert plan["lr"] == N2V_LR and plan["optimizer"] == "adam"


def test_given_values_are_kept_and_marked():
    plan = plan_denoise(_cfg(epochs=3, batch_size=8, patch_size=32, lr=1e-3), [(100, 100)] * 4, [(100, 100)], 3,
                        "cpu", step_s=0.1)
    assert plan["epochs"] == 3 and plan["batch_size"] == 8 and plan["patch_size"] == 32 and plan["lr"] == 1e-3
    assert plan["patches"] == 4 * 9 and plan["steps_per_epoch"] == 5  # ceil(36 / 8)
    assert plan.items["batch_size"].source == "user"


def test_small_images_shrink_the_patch():
    plan = plan_denoise(_cfg(epochs=1), [(40, 90)] * 3, [(40, 90)], 1, "cpu", step_s=0.1)
    assert plan["patch_size"] == 32  # the largest multiple of 2**4 within 40


def test_a_short_budget_cuts_the_epoch_for_three_validations():
    plan = plan_denoise(_cfg(budget_s=15), [(256, 256)] * 40, [(64, 64)], 1, "cpu", step_s=1.0)
    assert plan["epochs"] == 3
    assert plan["steps_per_epoch"] < 40


def test_the_share_is_n2v_for_long_runs_and_denser_for_short_ones():
    short = plan_denoise(_cfg(epochs=2), [(256, 256)] * 4, [(256, 256)], 1, "cpu", step_s=0.1)
    assert short["total_steps"] == 8 and short["n2v_share"] == 1 / 16
    long = plan_denoise(_cfg(epochs=200), [(256, 256)] * 10, [(256, 256)], 1, "cpu", step_s=0.1)
    assert long["total_steps"] == 2000 and long["n2v_share"] == 0.002
    given = plan_denoise(_cfg(epochs=2, n2v_share=0.01), [(256, 256)] * 4, [(256, 256)], 1, "cpu", step_s=0.1)
    assert given["n2v_share"] == 0.01 and given.items["n2v_share"].source == "user"
