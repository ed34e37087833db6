import pytest

import math

import torch

from segtrain.optim.schedules import SCHEDULES, Schedule, shape, warmup_cosine


def test_warmup_then_cosine():
    assert warmup_cosine(0, 100, 4) == pytest.approx(1 / 5)
    assert warmup_cosine(3, 100, 4) == pytest.approx(4 / 5)
    assert warmup_cosine(4, 100, 4) == pytest.approx(1.0)
    assert warmup_cosine(52, 100, 4, final_fraction=0.0) == pytest.approx(0.5)  # half way through the decay
    assert warmup_cosine(100, 100, 4, final_fraction=0.01) == pytest.approx(0.01)
    assert warmup_cosine(500, 100, 4, final_fraction=0.01) == pytest.approx(0.01)


def test_monotone_decay_after_warmup():
    values = [warmup_cosine(s, 50, 5) for s in range(5, 60)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_matches_the_pure_function_until_replanned():
    schedule = Schedule("cosine", 100, 10, 0.01)
    for step in (0, 5, 10, 40, 99, 150):
        assert schedule(step) == pytest.approx(warmup_cosine(step, 100, 10, 0.01))


@pytest.mark.parametrize("new_total", [60, 100, 400])
def test_replan_is_continuous_and_monotone(new_total):
    schedule = Schedule("cosine", 100, 0, 0.0)
    before = schedule(50)
    assert before == pytest.approx(0.5)
    schedule.replan(50, new_total)
    assert schedule(50) == pytest.approx(before)
    values = [schedule(s) for s in range(50, new_total + 5)]
    assert all(a >= b - 1e-12 for a, b in zip(values, values[1:]))
    assert schedule(new_total) == pytest.approx(0.0, abs=1e-9)


def test_replan_during_warmup_keeps_warmup():
    schedule = Schedule("cosine", 100, 10, 0.0)
    schedule.replan(5, 200)
    assert schedule(5) == pytest.approx(6 / 11)
    assert schedule(10) == pytest.approx(1.0)
    assert schedule(200) == pytest.approx(0.0, abs=1e-9)


def test_step_decay_milestones():
    schedule = Schedule("step", 100, 0)
    assert [schedule(s) for s in (0, 49, 50, 74, 75, 100)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])


def test_exponential_has_a_constant_ratio_and_reaches_final():
    schedule = Schedule("exponential", 100, 0, final_fraction=0.01)
    ratios = [schedule(s + 1) / schedule(s) for s in range(99)]
    assert ratios == pytest.approx([0.01 ** (1 / 100)] * 99)
    assert schedule(100) == pytest.approx(0.01)


def test_poly_is_nnunet_decay():
    schedule = Schedule("poly", 1000, 0)
    # nnU-Net: lr = initial * (1 - epoch / max_epochs) ** 0.9
    for step in (0, 250, 500, 999):
        assert schedule(step) == pytest.approx((1 - step / 1000) ** 0.9)
    assert schedule(1000) == 0.0


def test_constant_and_plateau_stay_at_one_after_warmup():
    for name in ("constant", "plateau"):
        schedule = Schedule(name, 100, 5)
        assert schedule(0) == pytest.approx(1 / 6)
        assert [schedule(s) for s in (5, 50, 100, 200)] == [1.0] * 4


def test_onecycle_matches_torch():
    total, lr = 200, 0.1
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    reference = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total)
    theirs = []
    for _ in range(total):
        theirs.append(optimizer.param_groups[0]["lr"] / lr)
        optimizer.step()
        reference.step()
    ours = [Schedule("onecycle", total, warmup_steps=10)(s) for s in range(total)]  # warm-up is built in
    assert ours[0] == pytest.approx(1 / 25) == theirs[0]
    assert max(ours) == pytest.approx(1.0, abs=1e-3)
    assert ours == pytest.approx(theirs, abs=0.02)  # torch counts phases to step total-1, we to total
    assert Schedule("onecycle", total)(total) == pytest.approx(1 / 25e4)


@pytest.mark.parametrize("name", SCHEDULES)
def test_every_schedule_starts_at_one_after_warmup_and_never_rises_after_its_peak(name):
    schedule = Schedule(name, 300, 10)
    values = [schedule(s) for s in range(320)]
    peak = max(range(len(values)), key=values.__getitem__)
    assert values[peak] == pytest.approx(1.0, abs=1e-3)
    assert all(a >= b - 1e-12 for a, b in zip(values[peak:], values[peak + 1:]))
    assert all(math.isfinite(v) and v >= 0 for v in values)


@pytest.mark.parametrize("name", SCHEDULES)
def test_replan_never_jumps(name):
    schedule = Schedule(name, 100, 5)
    before = schedule(40)
    schedule.replan(40, 250)
    assert schedule(40) == pytest.approx(before)
    assert schedule(250) == pytest.approx(shape(name, 1.0, 0.01))


def test_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="choose one of"):
        Schedule("warp", 10)
