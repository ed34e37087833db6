import pytest

from segtrain.engine.schedules import WarmupCosine, warmup_cosine


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
    schedule = WarmupCosine(100, 10, 0.01)
    for step in (0, 5, 10, 40, 99, 150):
        assert schedule(step) == pytest.approx(warmup_cosine(step, 100, 10, 0.01))


@pytest.mark.parametrize("new_total", [60, 100, 400])
def test_replan_is_continuous_and_monotone(new_total):
    schedule = WarmupCosine(100, 0, 0.0)
    before = schedule(50)
    assert before == pytest.approx(0.5)
    schedule.replan(50, new_total)
    assert schedule(50) == pytest.approx(before)
    values = [schedule(s) for s in range(50, new_total + 5)]
    assert all(a >= b - 1e-12 for a, b in zip(values, values[1:]))
    assert schedule(new_total) == pytest.approx(0.0, abs=1e-9)


def test_replan_during_warmup_keeps_warmup():
    schedule = WarmupCosine(100, 10, 0.0)
    schedule.replan(5, 200)
    assert schedule(5) == pytest.approx(6 / 11)
    assert schedule(10) == pytest.approx(1.0)
    assert schedule(200) == pytest.approx(0.0, abs=1e-9)
