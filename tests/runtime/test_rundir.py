import os

import pytest

from segtrain.errors import UserError
from segtrain.runtime.rundir import RunDir, atomic_write_bytes


def test_create_refuses_existing_run_unless_overwrite(tmp_path):
    run = RunDir.create(tmp_path / "r")
    run.config.write_text("x")
    (run.checkpoints / "best.ckpt").write_text("x")
    with pytest.raises(UserError, match="--overwrite"):
        RunDir.create(tmp_path / "r")
    again = RunDir.create(tmp_path / "r", overwrite=True)
    assert not again.config.exists() and not again.best.exists()


def test_open_needs_checkpoint(tmp_path):
    with pytest.raises(UserError, match="no such run folder"):
        RunDir.open(tmp_path / "nothing")
    (tmp_path / "r").mkdir()
    with pytest.raises(UserError, match="no checkpoints"):
        RunDir.open(tmp_path / "r")


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]  # no temporary left behind
