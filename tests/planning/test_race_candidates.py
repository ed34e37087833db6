"""Tests for segtrain.planning.race_candidates: candidates, rounds, the skip rule and the ranking (hand-checked)."""

from __future__ import annotations

import math

import pytest

from segtrain.planning.plan import TrainingPlan
from segtrain.planning.race_candidates import (Candidate, Standing, affordable, propose, race_setup, rank, rounds,
                                               slices, slope, steps_in, why_dropped)


def _plan(scale="fill", stem="strided", lr=0.006, budget=300.0, step_s=0.25, val_s=2.0, lr_source="planned"):
    plan = TrainingPlan()
    plan.set("scale", scale, "")
    plan.set("stem", stem, "")
    plan.set("patch_size", 256, "")
    plan.set("budget_s", budget, "", "user")
    plan.set("step_seconds", step_s, "")
    plan.set("validation_seconds", val_s, "")
    plan.set("lr", lr, "", lr_source)
    return plan


def test_short_budget_candidates_in_order():
    found = propose(_plan(), width=16, depth=4, budget_s=300)
    assert [c.name for c in found] == ["planned", "full first level", "width 32", "lr/3"]
    assert [c.changes for c in found] == [{}, {"stem": "full"}, {"width": 32}, {"lr": pytest.approx(0.002)}]
    assert [c.cost for c in found] == [1.0, 3.0, 4.0, 1.0]
    assert all(c.why for c in found)


def test_a_numeric_scale_races_twice_itself_and_user_values_stay():
    found = propose(_plan(scale=0.3536, stem="full", lr_source="user"), width=16, depth=4, budget_s=300)
    assert [c.name for c in found] == ["planned", "scale 0.7072", "width 32"]  # no rate: the user gave it
    assert found[1].changes == {"scale": 0.7072}
    assert [c.name for c in propose(_plan(scale=0.75, stem="full"), width=32, depth=4, budget_s=300,
                                    fixed=frozenset({"width"}))] == ["planned", "scale 1", "lr/3"]


def test_long_budget_adds_larger_set_ups():
    found = propose(_plan(), width=16, depth=4, budget_s=1800)
    assert [c.name for c in found] == ["planned", "full first level", "width 32", "depth 5", "width 64", "lr/3"]
    assert found[3].changes == {"depth": 5} and found[4].changes == {"width": 64}


def test_rounds_and_slices():
    assert rounds(4) == [4, 2] and rounds(3) == [3] and rounds(6) == [6, 3] and rounds(5) == [5, 2]
    assert rounds(1) == []
    assert slices(120, 4) == [15.0, 30.0]  # each round 60 s: 4 x 15 s, then 2 x 30 s
    assert slices(60, 3) == [20.0]
    assert steps_in(20, 0.25, 2.0) == 72 and steps_in(20, 0.25, 2.0, cost=4) == 18


def test_affordable_leaves_out_the_candidates_without_enough_steps():
    cands = [Candidate("planned", {}, "", 1.0), Candidate("full", {}, "", 3.0), Candidate("wide", {}, "", 4.0),
             Candidate("slow rate", {}, "", 1.0)]
    # 60 s, 4 candidates: first slice 7.5 s -> (7.5 - 2) / 0.1 = 55 steps planned, 18 full, 13 wide: wide goes;
    # then 3 candidates in one round of 20 s: 180, 60, 180 steps
    kept, left = affordable(cands, 60, 0.1, 2.0, 50)
    assert [c.name for c in kept] == ["planned", "full", "slow rate"]
    assert list(left) == ["wide"] and left["wide"].startswith("13 weight updates in a 8 s slice")
    kept, left = affordable(cands, 60, 0.25, 2.0, 50)  # 2 candidates: 30 s -> full gets (28 / 0.75) = 37 < 50
    assert kept == [] and list(left) == ["slow rate", "wide", "full"]


def test_the_skip_rule_states_why():
    cands = propose(_plan(), width=16, depth=4, budget_s=300)
    assert race_setup(_plan(), cands, asked=False, share=0.2, min_steps=50)[1] == "race skipped: --no-race"
    setup, why = race_setup(_plan(budget=None), cands, asked=None, share=0.2, min_steps=50)
    assert setup is None and "no wall-clock budget" in why
    assert "fine-tuning" in race_setup(_plan(), cands, asked=None, share=0.2, min_steps=50, fine_tuning=True)[1]
    setup, why = race_setup(_plan(step_s=0.5, val_s=10.0), cands, asked=True, share=0.2, min_steps=50)
    assert setup is None and why.startswith("race skipped: 20% of the 300 s budget is too short") and "full" in why
    setup, why = race_setup(_plan(step_s=0.05, val_s=1.0), cands, asked=None, share=0.2, min_steps=50)
    # 60 s: 4 candidates, 7.5 s first slices: (6.5 / 0.05) = 130 planned, 43 full first level, 32 width 32 -> width goes
    assert why == "" and [c.name for c in setup.candidates] == ["planned", "full first level", "lr/3"]
    assert setup.rounds == [3] and setup.slices == [20.0] and "width 32" in setup.left_out
    assert "depends on the measured speed" in setup.describe()


def test_rank_by_score_then_slope_then_order():
    a, b = Standing("a", 0.800, 0.001, 0), Standing("b", 0.803, 0.010, 1)
    c, d = Standing("c", 0.700, 0.5, 2), Standing("d", math.nan, 0.0, 3)
    assert [s.name for s in rank([d, c, a, b])] == ["b", "a", "c", "d"]  # a and b tie (0.003 apart): b is steeper
    assert [s.name for s in rank([Standing("x", 0.9, 0.0, 1), Standing("y", 0.9, 0.0, 0)])] == ["y", "x"]
    assert "tied with b" in why_dropped(a, b, 1) and "below" in why_dropped(c, a, 2)


def test_slope_between_the_last_two_validations():
    assert slope([[10, 0.5], [20, 0.7]]) == pytest.approx(0.02)
    assert slope([[10, 0.5]]) == pytest.approx(0.05)  # from 0 at the start
    assert slope([]) == 0.0
