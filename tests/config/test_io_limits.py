"""The safe readers of :mod:`segtrain.config.files`: every bad file is one UserError line naming it."""

from __future__ import annotations

import os

import pytest

from segtrain.config.io import (
    check_plan_numbers,
    load_config,
    read_csv,
    read_json,
    read_plan_file,
    read_run_split,
    read_yaml,
)
from segtrain.errors import UserError
from segtrain.runtime.names import check_name_length


def _refused(call, path, *fragments) -> str:
    with pytest.raises(UserError) as info:
        call()
    line = str(info.value)
    assert "\n" not in line and line.startswith(f"{path}: "), line
    for fragment in fragments:
        assert fragment in line, line
    return line


@pytest.mark.parametrize("text", ["[" * 100_000, '{"a": ' * 40 + "1" + "}" * 40, "[" * 33 + "]" * 33])
def test_deep_json_is_refused_not_a_recursion_error(tmp_path, text):
    path = tmp_path / "deep.json"
    path.write_text(text)
    _refused(lambda: read_json(path, "split file"), path, "nested deeper than 32 levels")


def test_json_at_the_depth_limit_is_read(tmp_path):
    path = tmp_path / "ok.json"
    path.write_text('{"a": ' + "[" * 31 + "]" * 31 + "}")
    assert read_json(path)["a"] == [[[[]]]] or isinstance(read_json(path)["a"], list)


@pytest.mark.parametrize("text", ["[" * 100_000, "a:\n" + "".join("  " * i + "b:\n" for i in range(1, 60))])
def test_deep_yaml_is_refused(tmp_path, text):
    path = tmp_path / "deep.yaml"
    path.write_text(text)
    _refused(lambda: load_config(path), path)


def test_a_yaml_alias_bomb_is_refused(tmp_path):
    path = tmp_path / "bomb.yaml"
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 20)]
    path.write_text("\n".join(lines) + "\n")
    _refused(lambda: read_yaml(path, "config file"), path, "aliases")


def test_too_large_a_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "big.json"
    path.write_text("[" + "0," * 600 + "0]")
    _refused(lambda: read_json(path, "split file", top=list, max_bytes=1000), path, "too large for a split file")


def test_wrong_top_level_type_and_syntax(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("[1, 2]")
    _refused(lambda: read_json(path, "split file"), path, "a list", "an object")
    path.write_text('{"train": [')
    _refused(lambda: read_json(path, "split file"), path, "not valid JSON", "line 1")
    path.write_bytes(b"\xff\xfe\x00garbage")
    _refused(lambda: read_json(path, "split file"), path, "not a text file")


def test_a_fifo_or_folder_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "split.json"
    os.mkfifo(fifo)
    _refused(lambda: read_json(fifo, "split file"), fifo, "not a regular file")
    _refused(lambda: read_json(tmp_path, "split file"), tmp_path, "a folder")
    _refused(lambda: read_json(tmp_path / "none.json", "split file"), tmp_path / "none.json", "no such split file")


def test_a_run_split_needs_three_lists(tmp_path):
    path = tmp_path / "split.json"
    path.write_text('{"train": ["a"], "val": ["b"]}')
    _refused(lambda: read_run_split(path), path, "'test'")
    path.write_text('{"train": ["a"], "val": ["b"], "test": "c"}')
    _refused(lambda: read_run_split(path), path, "'test' is not a list")
    path.write_text('{"train": ["a"], "val": ["b"], "test": []}')
    assert read_run_split(path) == {"train": ["a"], "val": ["b"], "test": []}


@pytest.mark.parametrize("key,value", [("batch_size", -3), ("patch_size", 0), ("steps_per_epoch", -1),
                                       ("epochs", 1.5), ("lr", 0), ("lr", float("inf")), ("batch_size", True),
                                       ("batch_size", "8"), ("batch_size", None)])
def test_nonsensical_plan_numbers_name_the_key(tmp_path, key, value):
    path = tmp_path / "plan.json"
    with pytest.raises(UserError) as info:
        check_plan_numbers(path, {key: value}, "write a new plan")
    assert f"{path}: {key} is {value!r}" in str(info.value)


def test_a_sound_plan_passes(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text('{"batch_size": 2, "patch_size": 32, "lr": 0.001, "epochs": null, "reasons": {}}')
    assert read_plan_file(path, "fix")["batch_size"] == 2


def test_a_garbage_csv_row_is_named(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,loss\n1,2,0.5\n2,4,nan\ngarbage,,x\n")
    _refused(lambda: read_csv(path, "history file"), path, "row 4", "epoch", "'garbage'")
    path.write_text("epoch,step,loss\n1,2,0.5\n2,4\n")
    _refused(lambda: read_csv(path, "history file"), path, "row 3 has 2 cells")
    path.write_text("epoch,step,loss\n1,2,0.5\n2,4,0.")
    assert len(read_csv(path, unfinished_ok=True)[1]) == 1  # the line a killed run was writing


def test_an_output_name_too_long_names_the_input(tmp_path):
    source = tmp_path / ("x" * 250 + ".png")
    with pytest.raises(UserError) as info:
        check_name_length(tmp_path / "out" / (source.stem + "_prob.tif"), source)
    assert str(info.value).startswith(f"{source}: ") and "255 bytes" in str(info.value)
    check_name_length(tmp_path / "out" / "short_prob.tif", source)
