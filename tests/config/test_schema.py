import pytest

from segtrain.config import SegtrainConfig, build_config, load_config, merge, parse_duration, save_config
from segtrain.errors import UserError


@pytest.mark.parametrize(
    "text, seconds",
    [("90", 90), ("90s", 90), ("5m", 300), ("1h30m", 5400), ("1.5m", 90), ("2h", 7200), (45, 45)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "5x", "-3m", "0"])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_budget_accepts_text():
    assert SegtrainConfig.model_validate({"train": {"budget_s": "5m"}}).train.budget_s == 300


def test_unknown_key_is_one_line_user_error():
    with pytest.raises(UserError) as info:
        build_config({"train": {"epoch": 3}})
    assert "train.epoch" in str(info.value)
    assert "\n" not in str(info.value)


def test_patch_must_be_multiple_of_depth():
    with pytest.raises(UserError, match="multiple of 2\\*\\*model.depth = 16; use 96 or 112"):
        build_config({"train": {"patch_size": 100}})
    assert build_config({"model": {"depth": 2}, "train": {"patch_size": 100}}).train.patch_size == 100


def test_group_norm_width_check():
    with pytest.raises(UserError, match="multiple of 8"):
        build_config({"model": {"norm": "group", "width": 12}})


def test_yaml_round_trip(tmp_path):
    config = build_config({"data": {"root": "d"}, "train": {"epochs": 3, "lr": 0.01}, "model": {"act": "gelu"}})
    save_config(config, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == config


def test_load_config_errors(tmp_path):
    with pytest.raises(UserError, match="no such config file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(UserError, match="mapping"):
        load_config(bad)


def test_merge_skips_none_and_recurses():
    assert merge({"a": {"x": 1, "y": 2}}, {"a": {"x": None, "y": 3}, "b": {"z": None}}) == {"a": {"x": 1, "y": 3}, "b": {}}
