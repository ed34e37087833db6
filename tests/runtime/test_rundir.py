import errno
import os

import pytest

from segtrain.errors import UserError
from segtrain.runtime.rundir import RunDir, atomic_write_bytes, created_mark, output_error, remove_created


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


def test_a_failed_write_names_the_file_not_its_temporary(tmp_path, monkeypatch):
    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError) as info:
        atomic_write_bytes(tmp_path / "plan.json", b"{}")
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(tmp_path / "plan.json")
    assert output_error(info.value) == f"{tmp_path / 'plan.json'}: no space left on device; free space or pass another --out"
    assert list(tmp_path.iterdir()) == []
    assert output_error(OSError(errno.EIO, "I/O error", "x")) is None  # not the user's to fix: a traceback


def test_check_free_refuses_a_file_in_the_way(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserError, match="f/run: cannot be created, .*f is a file, not a folder"):
        RunDir.check_free(tmp_path / "f" / "run")
    with pytest.raises(UserError, match="f: is a file, not a folder"):
        RunDir.check_free(tmp_path / "f")


def test_remove_created_undoes_what_this_command_made(tmp_path):
    earlier = RunDir.create(tmp_path / "earlier")
    mark = created_mark()
    RunDir.create(tmp_path / "new" / "r")
    (tmp_path / "given").mkdir()
    (tmp_path / "given" / "notes.txt").write_text("the user's")
    RunDir.create(tmp_path / "given").split.write_text("{}")
    trained = RunDir.create(tmp_path / "trained")
    trained.last.write_bytes(b"weights")
    remove_created(mark)
    assert earlier.checkpoints.is_dir() and not (tmp_path / "new").exists()
    assert [p.name for p in (tmp_path / "given").iterdir()] == ["notes.txt"]
    assert trained.last.exists()  # a run with a checkpoint is kept: it can be resumed


def test_record_command_names_segtrain_or_the_python_script(tmp_path):
    from segtrain.runtime.rundir import RunDir

    run = RunDir(tmp_path)
    run.record_command(["/venv/bin/segtrain", "train", "my data", "--out", "r"])
    run.record_command(["/src/segtrain/cli/app.py", "train", "--resume", "r"])  # python -m segtrain.cli.app
    run.record_command(["fit.py", "--lr", "1e-3"])
    assert (tmp_path / "command.txt").read_text().splitlines() == [
        "segtrain train 'my data' --out r", "segtrain train --resume r", "python fit.py --lr 1e-3"]


def test_rundir_names_every_file_of_the_run_folder(tmp_path):
    run = RunDir(tmp_path / "r")
    names = {"config": "config.yaml", "plan": "plan.json", "split": "split.json", "metrics": "metrics.csv",
             "steps": "steps.csv", "grads": "grads.csv", "events": "events.jsonl", "findings": "findings.json",
             "command": "command.txt", "lr_find_csv": "lr_find.csv", "lr_find_png": "lr_find.png",
             "evaluation": "evaluation.json", "refinement": "refinement.json", "fine_tuning": "fine_tuning.json", "race": "race.json", "race_dir": "race", "report": "report.html", "plots": "plots", "tensorboard": "tensorboard",
             "checkpoints": "checkpoints", "best": "checkpoints/best.ckpt", "last": "checkpoints/last.ckpt"}
    for name, relative in names.items():
        assert getattr(run, name) == run.path / relative, name
    assert run.histories == {"metrics": run.metrics, "steps": run.steps, "grads": run.grads, "events": run.events}
    assert set(run.files) <= {getattr(run, name) for name in names}


def test_overwrite_removes_every_file_of_the_old_run(tmp_path):
    run = RunDir.create(tmp_path / "r")
    for file in run.files:
        file.write_text("x")
    run.plots.mkdir()
    (run.plots / "losses.png").write_text("x")
    (run.path / "mine.txt").write_text("kept")
    again = RunDir.create(tmp_path / "r", overwrite=True)
    assert sorted(p.name for p in again.path.iterdir()) == [".segtrain", "checkpoints", "mine.txt"]  # the marker stays
