"""Learning-rate range test: schedule, suggestion rule on synthetic curves, restoration, outputs."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch

from segtrain.planning.lr_finder import (
    LRCurve,
    LRSuggestion,
    lr_range_test,
    lr_schedule,
    plot_curve,
    smooth_losses,
    suggest_lr,
    write_curve_csv,
)

LRS = np.array(lr_schedule(1e-7, 10.0, 100))
X = np.log10(LRS)
STEP = 8 / 99  # decades between neighbouring learning rates
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def synthetic(x, centre=-3.0, width=3.0, blow_up=-1.0):
    """Loss as a function of log10(lr): a sigmoid fall of 0.8 centred at 10**centre, then divergence."""
    return 1 - 0.8 / (1 + np.exp(-width * (x - centre))) + 0.2 * np.exp(4 * (x - blow_up))


def expected_lr(**kwargs) -> float:
    """The rule applied to the noise-free function on a fine grid: min(half-way point, minimum / 10)."""
    x = np.linspace(-7, 1, 200_001)
    loss = synthetic(x, **kwargs)
    i_min = int(np.argmin(loss))
    half_way = loss[0] - 0.5 * (loss[0] - loss[i_min])
    i_steep = int(np.argmax(loss[: i_min + 1] <= half_way))
    return min(10 ** x[i_steep], 10 ** x[i_min] / 10)


def within(value: float, target: float, factor: float) -> bool:
    return target / factor <= value <= target * factor


# ---------------------------------------------------------------- schedule and smoothing


def test_schedule_grows_by_a_constant_ratio_from_start_to_end():
    lrs = lr_schedule(1e-7, 10, 100)
    assert len(lrs) == 100
    assert lrs[0] == pytest.approx(1e-7, rel=1e-12)
    assert lrs[-1] == pytest.approx(10.0, rel=1e-12)
    ratios = np.array(lrs[1:]) / np.array(lrs[:-1])
    np.testing.assert_allclose(ratios, 10 ** (8 / 99), rtol=1e-10)


def test_schedule_rejects_bad_ranges():
    with pytest.raises(ValueError):
        lr_schedule(1.0, 0.1, 10)
    with pytest.raises(ValueError):
        lr_schedule(1e-5, 1.0, 1)


def test_smoothing_is_the_bias_corrected_moving_average():
    smoothed = smooth_losses([2.0, 4.0, float("nan"), 1.0], beta=0.5)
    # avg: 1.0 -> 2.5 -> (skipped) -> 1.75; corrections 1 - 0.5, 1 - 0.25, 1 - 0.125
    assert smoothed[0] == pytest.approx(2.0)
    assert smoothed[1] == pytest.approx(2.5 / 0.75)
    assert math.isnan(smoothed[2])
    assert smoothed[3] == pytest.approx(1.75 / 0.875)


# ---------------------------------------------------------------- suggestion rule


def test_clean_curve_suggests_the_steepest_descent():
    suggestion = suggest_lr(LRS, synthetic(X))
    target = expected_lr()  # 1e-3: the minimum lies at 2e-2, so the cap (2e-3) does not bite
    assert target == pytest.approx(1e-3, rel=0.1)
    assert within(suggestion.lr, target, 2)
    assert LRS[suggestion.index] == suggestion.lr
    assert within(suggestion.minimum_lr, 2e-2, 2.5)
    assert suggestion.reason.startswith("steepest descent of the smoothed loss (half-way down")


def test_half_way_point_is_the_steepest_point_of_a_sigmoid_fall():
    x = np.linspace(-7, 1, 200_001)
    loss = synthetic(x)
    assert abs(math.log10(expected_lr()) - x[int(np.argmin(np.gradient(loss, x)))]) < 0.1  # within 0.1 decade


def test_one_noisy_dip_near_the_minimum_does_not_move_the_suggestion():
    losses = synthetic(X)
    dipped = losses.copy()
    dipped[68:70] -= 0.15  # a two-point plunge just before the minimum, as on real curves
    assert within(suggest_lr(LRS, dipped).lr, suggest_lr(LRS, losses).lr, 1.3)


def test_noisy_curve_still_suggests_near_the_steepest_descent():
    rng = np.random.default_rng(0)
    noisy = synthetic(X) * (1 + 0.03 * rng.standard_normal(X.size))
    suggestion = suggest_lr(LRS, noisy)
    assert within(suggestion.lr, expected_lr(), 3)


def test_non_finite_tail_is_dropped_and_changes_nothing():
    clean = suggest_lr(LRS, synthetic(X))
    tail = synthetic(X)
    tail[85] = np.inf
    tail[86:] = np.nan
    assert suggest_lr(LRS, tail) == clean


def test_finite_points_after_the_first_non_finite_one_are_ignored():
    losses = synthetic(X)
    losses[90] = np.nan  # points 91..99 are finite but come after the divergence
    assert suggest_lr(LRS, losses) == suggest_lr(LRS[:90], losses[:90])


def test_first_points_are_skipped():
    losses = synthetic(X)
    losses[:5] = np.linspace(2.0, 1.0, 5)  # a start-up transient, far steeper than the real descent
    assert suggest_lr(LRS, losses, skip_start=0).lr < 1e-6
    # the transient still lifts the smoothed start a little: at most one grid step (x1.2) of difference
    assert within(suggest_lr(LRS, losses).lr, suggest_lr(LRS, synthetic(X)).lr, 1.21)


def test_last_points_are_skipped():
    losses = synthetic(X, blow_up=5.0)  # no divergence: still falling slightly at the end
    losses[-5:] = np.linspace(0.2, 0.0, 5)  # a spurious collapse in the last 5%
    trimmed = suggest_lr(LRS, losses)
    assert trimmed.minimum_lr == LRS[94]  # the last kept point: the curve never turned up
    assert within(trimmed.lr, 1e-3, 2)
    assert suggest_lr(LRS, losses, skip_end=0).minimum_lr == LRS[98]  # at least one point is trimmed


def test_flat_noisy_curve_gives_no_suggestion():
    rng = np.random.default_rng(1)
    suggestion = suggest_lr(LRS, 1 + 0.03 * rng.standard_normal(X.size))
    assert suggestion.lr is None and suggestion.index is None
    assert "never fell by more than 5%" in suggestion.reason
    assert "no usable descent" in suggestion.reason


def test_rising_curve_gives_no_suggestion():
    suggestion = suggest_lr(LRS, 1 + 0.1 * (X + 7))
    assert suggestion.lr is None
    assert suggestion.minimum_lr == pytest.approx(LRS[10])  # lowest at the first kept point
    assert "never falls" in suggestion.reason


def test_too_few_points_give_no_suggestion():
    falling = 1 - 0.05 * np.arange(10)
    enough = suggest_lr(LRS[:10], falling)  # 10 points, one trimmed at each end: 8 kept
    assert enough.lr is not None and enough.index is not None
    few = suggest_lr(LRS[:7], falling[:7])  # fewer than 10 points: none trimmed, 7 kept
    assert few.lr is None
    assert few.reason.startswith("only 7 usable points")
    tail = synthetic(X)
    tail[6:] = np.nan
    assert suggest_lr(LRS, tail).reason.startswith("only 6 usable points")


def test_steepest_point_close_to_the_minimum_is_capped_at_a_tenth_of_it():
    suggestion = suggest_lr(LRS, synthetic(X, centre=-1.5))
    # The cap is exact (not snapped to the grid); index is the grid point nearest to it in log lr.
    assert suggestion.lr == pytest.approx(suggestion.minimum_lr / 10, rel=1e-12)
    assert abs(X[suggestion.index] - math.log10(suggestion.lr)) <= STEP / 2
    assert "capped at minimum/10" in suggestion.reason
    target = expected_lr(centre=-1.5)  # the true minimum is at 7.2e-2, its steepest descent at 2.5e-2
    assert target == pytest.approx(7.2e-3, rel=0.02)
    assert within(suggestion.lr, target, 2)


def test_suggestion_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        suggest_lr([1e-3, 1e-2], [1.0])


# ---------------------------------------------------------------- range test on a tiny model


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors gain nothing from threads; on a busy 2-core machine two threads ran 15x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 2, 3, padding=1))


def fixed_batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 1, 8, 8, generator=generator)
    return x, (x[:, 0] > 0).long()


def snapshot(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    import copy

    return {
        "model": copy.deepcopy(model.state_dict()),
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "modes": [m.training for m in model.modules()],
        "optimizer": copy.deepcopy(optimizer.state_dict()),
    }


def assert_same(a, b) -> None:
    """Recursive equality with torch.equal on tensors (dtype included)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        assert a == b


def recording_batches(model, optimizer):
    """next_batch that records the lr it sees and the first weight, to prove the test trained."""
    x, y = fixed_batch()
    seen: dict[str, list] = {"lr": [], "weight": []}

    def next_batch():
        seen["lr"].append(optimizer.param_groups[0]["lr"])
        seen["weight"].append(model[0].weight.detach().clone())
        return x, y

    return next_batch, seen


def test_range_test_with_sgd_diverges_and_restores_everything():
    model = tiny_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    model[1].eval()  # a frozen batch norm must stay frozen
    before = snapshot(model, optimizer)
    next_batch, seen = recording_batches(model, optimizer)

    curve = lr_range_test(model, optimizer, next_batch, torch.nn.functional.cross_entropy, num_steps=100)

    assert curve.diverged
    assert len(curve.lrs) == len(curve.losses) == len(curve.smoothed) < 100
    assert curve.lrs[-1] < 10.0
    np.testing.assert_allclose(curve.lrs, lr_schedule(1e-7, 10.0, 100)[: len(curve.lrs)], rtol=0, atol=0)
    assert seen["lr"] == curve.lrs  # each step ran at its scheduled lr
    assert curve.smoothed == smooth_losses(curve.losses)
    assert not torch.equal(seen["weight"][0], seen["weight"][-1])  # the test did train
    assert_same(snapshot(model, optimizer), before)
    assert optimizer.param_groups[0]["lr"] == 0.05
    assert not model[1].training and model[0].training


def test_range_test_with_adam_restores_its_state_including_step():
    model = tiny_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = fixed_batch()
    for _ in range(2):  # give Adam state: exp_avg, exp_avg_sq and step == 2
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    before = snapshot(model, optimizer)
    assert float(before["optimizer"]["state"][0]["step"]) == 2.0

    curve = lr_range_test(model, optimizer, lambda: (x, y), torch.nn.functional.cross_entropy, num_steps=30)

    assert len(curve.lrs) <= 30
    assert_same(snapshot(model, optimizer), before)
    assert float(optimizer.state_dict()["state"][0]["step"]) == 2.0


def test_range_test_stops_at_the_first_non_finite_loss_and_records_it():
    model = tiny_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = fixed_batch()
    calls = []

    def loss_fn(logits, target):
        calls.append(1)
        loss = torch.nn.functional.cross_entropy(logits, target)
        return loss * float("nan") if len(calls) == 12 else loss

    curve = lr_range_test(model, optimizer, lambda: (x, y), loss_fn, num_steps=50)
    assert curve.diverged and len(curve.losses) == 12 and len(calls) == 12
    assert math.isnan(curve.losses[-1]) and math.isnan(curve.smoothed[-1])
    assert all(math.isfinite(v) for v in curve.losses[:-1])


def test_range_test_restores_after_an_error():
    model = tiny_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    before = snapshot(model, optimizer)
    x, y = fixed_batch()
    calls = []

    def failing_batch():
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("data loader broke")
        return x, y

    with pytest.raises(RuntimeError, match="data loader broke"):
        lr_range_test(model, optimizer, failing_batch, torch.nn.functional.cross_entropy, start_lr=1e-2)
    assert_same(snapshot(model, optimizer), before)


def test_range_test_runs_the_forward_pass_under_autocast():
    model = tiny_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = fixed_batch()
    dtypes = []

    def loss_fn(logits, target):
        dtypes.append(logits.dtype)
        return torch.nn.functional.cross_entropy(logits, target)

    curve = lr_range_test(model, optimizer, lambda: (x, y), loss_fn, num_steps=10, end_lr=1e-2,
                          autocast=lambda: torch.autocast("cpu", dtype=torch.bfloat16))
    assert len(curve.losses) == 10 and not curve.diverged
    assert all(math.isfinite(v) for v in curve.losses)
    assert set(dtypes) == {torch.bfloat16}


# ---------------------------------------------------------------- outputs


def small_curve() -> LRCurve:
    lrs = lr_schedule(1e-7, 10.0, 100)[:90]
    losses = list(synthetic(X[:90]))
    losses[-1] = float("nan")
    return LRCurve(lrs, losses, smooth_losses(losses), diverged=True)


def test_csv_round_trips(tmp_path):
    curve = small_curve()
    path = tmp_path / "curve.csv"
    write_curve_csv(curve, path)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["step", "lr", "loss", "smoothed"]
    assert len(rows) == 90
    assert [int(r["step"]) for r in rows] == list(range(90))
    assert [float(r["lr"]) for r in rows] == curve.lrs
    assert [float(r["loss"]) for r in rows[:-1]] == curve.losses[:-1]
    assert [float(r["smoothed"]) for r in rows[:-1]] == curve.smoothed[:-1]
    assert math.isnan(float(rows[-1]["loss"])) and math.isnan(float(rows[-1]["smoothed"]))


@pytest.mark.parametrize("with_suggestion", [True, False])
def test_plot_writes_a_png(tmp_path, with_suggestion):
    curve = small_curve()
    if with_suggestion:
        suggestion = suggest_lr(curve.lrs, curve.losses)
        assert suggestion.lr is not None
    else:
        suggestion = LRSuggestion(None, "the loss never fell by more than 5%: no usable descent", None, None)
    path = tmp_path / "lr.png"
    plot_curve(curve, suggestion, path)
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 10_000
