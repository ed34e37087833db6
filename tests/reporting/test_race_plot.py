"""Tests for segtrain.reporting.race_plot: the race's curves and its table in the report."""

from __future__ import annotations

import json

from PIL import Image

from segtrain.reporting._html import Raw
from segtrain.reporting.race_plot import plot_race, race_parts

RECORD = {
    "budget_s": 300.0, "seconds": 61.0, "winner": "width 32", "rule": "ranked by the validation score",
    "speed": "The race depends on the measured speed of this machine", "continued": {"from_step": 40},
    "left_out": {"lr/3": "12 weight updates in a 15 s slice"},
    "candidates": [
        {"name": "planned", "why": "the plan", "curve": [[5.0, 0.4], [10.0, 0.5]], "dropped": "round 1: 0.5 below",
         "rounds": [{"round": 1, "seconds": 15.2, "steps": 40, "score": 0.5}]},
        {"name": "width 32", "why": "wider", "curve": [[6.0, 0.45], [12.0, 0.6]], "dropped": None,
         "rounds": [{"round": 1, "seconds": 15.1, "steps": 20, "score": 0.6}]},
    ],
}


def test_the_race_is_drawn_one_line_per_candidate(tmp_path):
    (tmp_path / "race.json").write_text(json.dumps(RECORD))
    out = plot_race(tmp_path / "race.json", tmp_path / "race.png")
    assert out == tmp_path / "race.png"
    with Image.open(out) as image:
        assert image.size[0] > 100
    assert plot_race(tmp_path / "missing.json", tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()


def test_the_race_table_names_every_candidate_and_its_fate():
    parts = race_parts(RECORD, Raw("<img>"))
    html = "".join(str(p) for p in parts)
    assert "Budget race" in html and "2 candidates raced for 61 s of the 300 s budget" in html
    assert "round 1: 15.2 s, 40 steps, score 0.5" in html and "winner" in html and "round 1: 0.5 below" in html
    assert "not raced" in html and "12 weight updates" in html and "trained on from its race weights" in html
    assert race_parts(None, Raw("")) == [] and race_parts({"candidates": []}, Raw("")) == []
