"""Tests for segtrain.pipeline.options: every option walked through the CLI, the config, the errors and resume."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import typer.main

from segtrain.cli.app import app
from segtrain.cli.options import gather
from segtrain.config.schema import SegtrainConfig
from segtrain.errors import UserError
from segtrain.pipeline.options import EXTENDING, KEPT, OPTIONS, SAME, describe, flag_names, nested_overrides
from segtrain.pipeline.prepare import build_run_config
from segtrain.pipeline.resume import EXTENDS, refuse_changes

EXAMPLES = {
    # option -> (a value as the verbs take it, what the CLI parses it from): each differs from the default config
    "epochs": (3, "3"), "batch_size": (4, "4"), "accumulate": (2, "2"), "lr": (0.01, "0.01"),
    "patch_size": (64, "64"), "scale": ("fit", "fit"), "budget": ("5m", "5m"), "max_steps": (7, "7"), "steps_per_epoch": (5, "5"),
    "optimizer": ("sgd", "sgd"), "schedule": ("poly", "poly"), "loss": ("dice+ce", "dice+ce"),
    "class_weights": ([1.0, 5.0], "1,5"), "precision": ("32", "32"), "norm": ("group", "group"),
    "lr_find": (False, None), "num_classes": (3, "3"), "split": ("split.json", "split.json"), "seed": (4, "4"),
    "init_from": ("runs/a", "runs/a"), "task": ("denoise", "denoise"),
    "ignore_index": (255, "255"),
    "clip_grad": (1.5, "1.5"), "init": ("xavier", "xavier"), "devices": (2, "2"), "num_nodes": (2, "2"),
    "strategy": ("ddp", "ddp"), "logger": ("tensorboard", "tensorboard"), "num_workers": (2, "2"),
    "cache_mb": (64, "64"), "compile": (True, None), "threshold": (0.7, "0.7"), "tune_threshold": (True, None),
    "tta": (True, None), "race": (True, None), "race_share": (0.3, "0.3"), "postprocess": (["fill_holes@1", "largest_component@1"], "fill_holes@1,largest_component@1"),
    "images": ("imgs", "imgs"), "masks": ("gt", "gt"), "mask_pattern": ("{stem}_manual1", "{stem}_manual1"), "roi": ("fov", "fov"),
}
"""A switch (``--no-lr-find``, ``--compile``) is parsed from its flag alone (None: no value)."""

BAD = {
    # options whose config field refuses a value: the error must name the flag
    "epochs": 0, "batch_size": 0, "accumulate": 0, "lr": -1.0, "patch_size": 8, "scale": 0.0, "max_steps": 0,
    "steps_per_epoch": 0, "optimizer": "lbfgs", "schedule": "linear", "precision": "8", "norm": "layer",
    "num_classes": 1, "clip_grad": 0.0, "init": "zeros", "devices": 0, "num_nodes": 0, "strategy": "fsdp",
    "logger": "neptune", "num_workers": -1, "cache_mb": -1, "threshold": 1.5, "budget": "soon", "loss": "mse",
    "class_weights": "often", "race_share": 0.9, "task": "restore",
}


def test_every_option_has_an_example_and_a_config_field():
    assert set(EXAMPLES) == {o.name for o in OPTIONS}
    fields = {f"{s}.{f}" for s, model in SegtrainConfig.model_fields.items()
              for f in model.annotation.model_fields}
    assert {o.key for o in OPTIONS} <= fields
    assert len({o.flag for o in OPTIONS}) == len(OPTIONS) and len({o.key for o in OPTIONS}) == len(OPTIONS)
    assert {o.resume for o in OPTIONS} <= {EXTENDING, SAME, KEPT}


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.name)
def test_the_cli_flag_is_the_table_flag_and_parses_to_the_keyword(option):
    command = typer.main.get_command(app).commands["train"]
    params = {p.name: p for p in command.params}
    assert option.flag in params[option.cli_param].opts
    value, typed = EXAMPLES[option.name]
    context = command.make_context("train", [option.flag] + ([] if typed is None else [typed]))
    parsed = gather(context.params)[option.name]
    assert (str(parsed) if option.name in ("split", "init_from") else parsed) == value
    untouched = command.make_context("train", [])
    assert gather(untouched.params)[option.name] is None  # not given: planned or from the config


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.name)
def test_the_keyword_sets_the_config_key(option, tmp_path):
    value = EXAMPLES[option.name][0]
    nested = nested_overrides({option.name: value})
    assert nested[option.section][option.field] == (str(value) if option.name == "split" else value)
    cfg = build_run_config(None, tmp_path, nested)
    got = getattr(getattr(cfg, option.section), option.field)
    assert got is not None and got != getattr(getattr(SegtrainConfig(), option.section), option.field)


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_value_is_named_by_its_flag(name, tmp_path):
    option = next(o for o in OPTIONS if o.name == name)
    with pytest.raises(UserError) as err:
        build_run_config(None, tmp_path, nested_overrides({name: BAD[name]}))
    assert str(err.value).startswith(option.flag), str(err.value)
    assert f"{option.section}.{option.field}" not in str(err.value)
    assert flag_names()[option.key] == option.flag


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.name)
def test_resume_refuses_a_changed_option_naming_the_flag_as_typed(option, tmp_path):
    cfg = SegtrainConfig.model_validate({"data": {"root": str(tmp_path)}})
    value = EXAMPLES[option.name][0]
    run = SimpleNamespace(path=tmp_path / "run")
    if option.resume != SAME:  # extended (epochs, budget, max steps) or the run's own file (split)
        assert (option.name in EXTENDS) == (option.resume == EXTENDING)
        if option.resume == KEPT:
            refuse_changes(run, cfg, None, None, nested_overrides({option.name: value}))
        return
    with pytest.raises(UserError) as err:
        refuse_changes(run, cfg, None, None, nested_overrides({option.name: value}))
    message = str(err.value)
    assert message.startswith(describe(option, value) + ": ") and f"leave {option.flag} out" in message


def test_describe_writes_the_flag_as_typed():
    by = {o.name: o for o in OPTIONS}
    assert describe(by["num_workers"], 2) == "--workers 2"
    assert describe(by["lr_find"], False) == "--no-lr-find"
    assert describe(by["class_weights"], [1.0, 5.0]) == "--class-weights 1.0,5.0"


def test_an_unknown_keyword_is_refused_by_name(tmp_path):
    with pytest.raises(UserError, match="train.epoch: unknown key"):
        build_run_config(None, tmp_path, nested_overrides({"epoch": 3}))
