"""Denoising runs through the verbs: refusals are one line and come before anything is written."""

from __future__ import annotations

import pytest

import segtrain
from segtrain.config import SegtrainConfig, save_config
from segtrain.errors import UserError
from segtrain.pipeline.denoise import refuse_segment_options
from segtrain.pipeline.task import is_denoise_run, run_task


def _fake_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    save_config(SegtrainConfig.model_validate({"train": {"task": "denoise"}}), run / "config.yaml")
    return run


def test_task_is_read_from_the_run_config(tmp_path):
    run = _fake_run(tmp_path)
    assert is_denoise_run(run) and run_task(tmp_path / "nowhere") == "segment"


def test_export_refuses_in_one_line(tmp_path):
    with pytest.raises(UserError, match="^export: denoising runs cannot be exported yet") as info:
        segtrain.export(_fake_run(tmp_path))
    assert "\n" not in str(info.value)


def test_segmentation_options_are_refused_by_flag():
    with pytest.raises(UserError, match="^--loss with --task denoise"):
        refuse_segment_options({"loss": "dice", "epochs": 3})
    refuse_segment_options({"epochs": 3, "budget": "1m"})  # duration options are fine


def test_train_denoise_without_images_writes_nothing(tmp_path):
    (tmp_path / "data").mkdir()
    with pytest.raises(UserError, match="images"):
        segtrain.train(tmp_path / "data", tmp_path / "out", task="denoise", epochs=1)
    assert not (tmp_path / "out").exists()


def test_unknown_task_names_the_flag(tmp_path):
    (tmp_path / "data").mkdir()
    with pytest.raises(UserError, match="--task"):
        segtrain.train(tmp_path / "data", tmp_path / "out", task="restore")
