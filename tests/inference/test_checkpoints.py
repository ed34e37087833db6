"""Checks of checkpoint files and content (:mod:`segtrain.inference.checkpoints`): one line each."""

from __future__ import annotations

import zipfile

import pytest
import torch

from segtrain.config.schema import SegtrainConfig
from segtrain.errors import UserError
from segtrain.inference import checkpoints
from segtrain.inference.checkpoints import (
    load_weights,
    validate_checkpoint_content,
    validate_checkpoint_file,
)
from segtrain.inference.predictor import load_checkpoint
from segtrain.models import build_model


def _content(width_factor: int = 1) -> dict:
    config = SegtrainConfig.model_validate({})
    network = build_model(1, 2, config.model, "multiclass")
    state = {f"model.{k}": v for k, v in network.state_dict().items()}
    meta = {"config": config.model_dump(mode="json"), "in_channels": 1, "num_classes": 2, "patch_size": 32,
            "mode": "multiclass"}
    return {"segtrain": meta, "state_dict": state}


def _refused(call, path, *fragments) -> str:
    with pytest.raises(UserError) as info:
        call()
    line = str(info.value)
    assert "\n" not in line and line.startswith(f"{path}: "), line
    for fragment in fragments:
        assert fragment in line, line
    return line


def test_a_sound_checkpoint_loads(tmp_path):
    path = tmp_path / "best.ckpt"
    torch.save(_content(), path)
    assert load_checkpoint(path)["segtrain"]["num_classes"] == 2


def test_weights_of_another_shape_are_named(tmp_path):
    content = _content()
    key = next(k for k, v in content["state_dict"].items() if v.ndim == 4)
    content["state_dict"][key] = torch.zeros(7, 1, 3, 3)
    _refused(lambda: validate_checkpoint_content(content, tmp_path / "c.ckpt"), tmp_path / "c.ckpt",
             key.removeprefix("model."), "[7, 1, 3, 3]")


def test_missing_and_unknown_weights_are_named(tmp_path):
    content = _content()
    key = next(iter(content["state_dict"]))
    content["state_dict"]["model.extra"] = content["state_dict"].pop(key)
    _refused(lambda: validate_checkpoint_content(content, "c.ckpt"), "c.ckpt", "lacks", "extra")


@pytest.mark.parametrize("key", ["config", "in_channels", "num_classes", "patch_size"])
def test_a_segtrain_entry_lacking_a_key_is_named(key):
    content = _content()
    del content["segtrain"][key]
    _refused(lambda: validate_checkpoint_content(content, "c.ckpt"), "c.ckpt", key)


def test_a_segtrain_entry_with_nonsense_values(tmp_path):
    content = _content()
    content["segtrain"]["num_classes"] = -2
    _refused(lambda: validate_checkpoint_content(content, "c.ckpt"), "c.ckpt", "num_classes", "-2")
    content = _content()
    content["segtrain"]["config"] = {"model": {"width": "wide"}}
    _refused(lambda: validate_checkpoint_content(content, "c.ckpt"), "c.ckpt", "config", "model.width")


def test_a_deflated_entry_hiding_a_huge_tensor_is_refused_before_loading(tmp_path):
    path = tmp_path / "bomb.ckpt"
    content = _content()
    content["state_dict"]["model.hidden"] = torch.zeros(8 * 2**20)  # 32 MiB that deflate to a few KiB
    plain = tmp_path / "plain.ckpt"
    torch.save(content, plain)
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
    assert path.stat().st_size < plain.stat().st_size / 3
    _refused(lambda: load_checkpoint(path), path, "expands", "MiB")


def test_declared_sizes_over_the_limit_are_refused(tmp_path, monkeypatch):
    path = tmp_path / "big.ckpt"
    torch.save(_content(), path)
    monkeypatch.setattr(checkpoints, "MAX_CHECKPOINT_BYTES", 1000)
    _refused(lambda: validate_checkpoint_file(path), path, "more than a checkpoint may hold")


def test_not_a_regular_file(tmp_path):
    _refused(lambda: validate_checkpoint_file(tmp_path), tmp_path, "not a regular file")
    _refused(lambda: validate_checkpoint_file(tmp_path / "none.ckpt"), tmp_path / "none.ckpt", "no such checkpoint")


def test_load_weights_wraps_a_mismatch():
    network = torch.nn.Linear(3, 2)
    with pytest.raises(UserError) as info:
        load_weights(network, {"weight": torch.zeros(5, 5), "bias": torch.zeros(2)}, "x.ckpt")
    assert str(info.value).startswith("x.ckpt: its weights do not fit") and "\n" not in str(info.value)
