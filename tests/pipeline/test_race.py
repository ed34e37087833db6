"""Tests for segtrain.pipeline.race: successive halving with fake scores, the record, the saved plan's winner,
and one real race on a tiny dataset (slow)."""

from __future__ import annotations

import csv
import json
from types import SimpleNamespace

import pytest

from helpers.datasets import make_dataset
from segtrain.config.schema import SegtrainConfig
from segtrain.pipeline import race
from segtrain.planning.plan import TrainingPlan
from segtrain.planning.race_candidates import Candidate, RaceSetup, race_setup

SCORES = {"planned": [0.50, 0.70], "full first level": [0.60, 0.65], "width 32": [0.40], "lr/3": [0.45]}
"""Validation score of each candidate at the end of each of its rounds (fake)."""


def _setup() -> RaceSetup:
    cands = [Candidate("planned", {}, "the plan"), Candidate("full first level", {"stem": "full"}, "detail", 3.0),
             Candidate("width 32", {"width": 32}, "wider", 4.0), Candidate("lr/3", {"lr": 0.001}, "slower rate")]
    return RaceSetup(cands, 80.0, [4, 2], [10.0, 20.0])


def _plan() -> TrainingPlan:
    plan = TrainingPlan()
    for name, value in (("device", "cpu"), ("budget_s", 400.0), ("stem", "strided"), ("lr", 0.003)):
        plan.set(name, value, "planned")
    return plan


@pytest.fixture
def fake_slices(monkeypatch):
    """``_train_slice`` replaced: each call is one round of the fake scores; the calls are recorded."""
    calls = []

    def train_slice(prepared, plan, candidate, folder, slice_s, progress):
        done = sum(1 for c in calls if c[0] == candidate.name)
        calls.append((candidate.name, slice_s, folder.path.name))
        curve = [[10.0 * (i + 1), s] for i, s in enumerate(SCORES[candidate.name][: done + 1])]
        return {"seconds": slice_s, "slice_s": slice_s, "steps": 5 * (done + 1), "score": curve[-1][1], "curve": curve}

    monkeypatch.setattr(race, "_train_slice", train_slice)
    return calls


def test_successive_halving_drops_the_worse_half_and_records_why(fake_slices, tmp_path):
    setup, plan = _setup(), _plan()
    record = race.run_race(SimpleNamespace(), plan, setup, tmp_path)
    assert fake_slices == [("planned", 10.0, "planned"), ("full first level", 10.0, "full_first_level"),
                           ("width 32", 10.0, "width_32"), ("lr/3", 10.0, "lr_3"),
                           ("planned", 20.0, "planned"), ("full first level", 20.0, "full_first_level")]
    assert record["winner"] == "planned" and record["rounds"] == [4, 2] and record["slices_s"] == [10.0, 20.0]
    by_name = {c["name"]: c for c in record["candidates"]}
    assert [c["name"] for c in record["candidates"]] == ["planned", "full first level", "width 32", "lr/3"]
    assert by_name["planned"]["dropped"] is None
    assert by_name["full first level"]["dropped"] == "round 2: 0.6500 below planned's 0.7000 (the worse half)"
    assert by_name["lr/3"]["dropped"].startswith("round 1: 0.4500 below planned's 0.5000")
    assert by_name["width 32"]["dropped"].startswith("round 1: 0.4000")
    assert [r["score"] for r in by_name["planned"]["rounds"]] == [0.5, 0.7]
    assert [r["place"] for r in by_name["full first level"]["rounds"]] == [1, 2]  # first after round 1, then second
    assert by_name["planned"]["curve"] == [[10.0, 0.5], [20.0, 0.7]]
    assert record["share"] == 0.2 and "measured speed" in record["speed"]
    json.dumps(record)  # race.json is plain JSON

    winner = race.apply_winner(plan, setup, record)
    assert winner.name == "planned" and plan["stem"] == "strided"  # the planned set-up changes nothing
    assert plan["race"]["winner"] == "planned" and "full first level (10 s -> 0.6000, 20 s -> 0.6500; round 2" \
        in plan.items["race"].reason


def test_the_winner_changes_the_plan(fake_slices, tmp_path, monkeypatch):
    monkeypatch.setitem(SCORES, "full first level", [0.60, 0.75])
    setup, plan = _setup(), _plan()
    record = race.run_race(SimpleNamespace(), plan, setup, tmp_path)
    assert record["winner"] == "full first level"
    race.apply_winner(plan, setup, record)
    assert plan["stem"] == "full" and plan.items["stem"].reason.startswith("won the budget race")


def test_a_saved_plans_race_is_reused_not_run_again():
    given = _plan()
    given.set("race", {"winner": "width 32"}, "raced", "plan file")
    given.set("width", 32, "won the budget race", "plan file")
    cfg = SegtrainConfig()
    race.reuse_winner(given, cfg)
    assert cfg.model.width == 32
    plan = _plan()
    race.restate_winner(given, plan)
    assert plan["width"] == 32 and plan.items["race"].source == "plan file"
    setup, why = race_setup(plan, _setup().candidates, asked=None, share=0.2, min_steps=1)
    assert setup is None and why == "race skipped: the saved plan's race already chose the set-up"


def test_read_curve_keeps_the_validated_epochs(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,seconds,val_dice\n1,4,2.5,0.31\n2,8,5.0,nan\n3,12,7.5,0.42\n")
    assert race.read_curve(path) == [[2.5, 0.31], [7.5, 0.42]]
    assert race.read_curve(tmp_path / "none.csv") == []


@pytest.mark.slow
def test_train_races_then_continues_from_the_winner(tmp_path, no_memory_probe):
    import segtrain

    data = make_dataset(tmp_path / "data", n=8, size=(32, 48), channels=1, classes=2)
    result = segtrain.train(data, tmp_path / "run", config={"train": {"race_min_steps": 2, "race_share": 0.4}},
                            budget="20s", race=True, progress=False, report=False)
    run = tmp_path / "run"
    record = json.loads((run / "race.json").read_text())
    names = [c["name"] for c in record["candidates"]]
    assert len(names) >= 2 and names[0] == "planned" and record["winner"] in names
    assert all(c["rounds"] and c["rounds"][0]["score"] is not None for c in record["candidates"])
    plan = json.loads((run / "plan.json").read_text())
    assert plan["race"]["winner"] == record["winner"]
    continued = record["continued"]["from_step"]
    assert continued > 0 and result.steps > continued  # the winner went on from its race weights
    with (run / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    winner_rows = (run / "race" / next(c["folder"] for c in record["candidates"] if c["name"] == record["winner"])
                   / "metrics.csv").read_text().splitlines()
    assert len(rows) > len(winner_rows) - 1  # the winner's epochs, then the run's own
    assert not any((run / "race").glob("*/checkpoints/*.ckpt"))  # the race's weights are removed
    assert record["seconds"] + plan["budget_s"] == pytest.approx(20.0, abs=0.2)  # the budget holds
