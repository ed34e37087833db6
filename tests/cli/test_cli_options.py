"""Tests for segtrain.cli.options: a refused resume names the flag exactly as the user typed it."""

from __future__ import annotations

import pytest

from helpers.cli import run_cli
from segtrain.config.io import save_config
from segtrain.config.schema import SegtrainConfig
from segtrain.errors import UserError
from segtrain.cli.options import parse_class_weights


@pytest.fixture
def run(tmp_path):
    """The files a resume reads before it compares anything: config, plan and split."""
    folder = tmp_path / "run"
    folder.mkdir()
    save_config(SegtrainConfig.model_validate({"data": {"root": str(tmp_path)}, "train": {"num_workers": 0}}),
                folder / "config.yaml")
    (folder / "plan.json").write_text("{}")
    (folder / "split.json").write_text('{"train": [], "val": [], "test": []}')
    return folder


@pytest.mark.parametrize("args, typed", [
    (["--workers", "2"], "--workers 2"),
    (["--no-lr-find"], "--no-lr-find"),
    (["--class-weights", "1,5"], "--class-weights 1.0,5.0"),
])
def test_a_refused_resume_names_the_flag_as_typed(run, args, typed):
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
    result = run_cli("train", "--resume", run, *args)
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip()
    flag = args[0]
    assert line.startswith(f"error: {typed}: ") and f"leave {flag} out" in line and "\n" not in line, line
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*")} == before


def test_class_weights_are_parsed_or_refused_by_flag():
    assert parse_class_weights("1,5,5") == [1.0, 5.0, 5.0]
    assert parse_class_weights(" Frequency ") == "frequency"
    assert parse_class_weights(None) is None
    with pytest.raises(UserError, match="--class-weights 'a,b'"):
        parse_class_weights("a,b")
