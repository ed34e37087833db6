"""Damaged or edited run folders, Ctrl-C during training, hostile seeds and names.

A damaged file of a run folder (``split.json``, ``plan.json``, ``metrics.csv``, a checkpoint)
gives exit code 2 and ONE line on stderr, ``error: ...``, naming the file and what is wrong; no
traceback. Ctrl-C during training exits with code 130 and one line saying where training
stopped and how to resume it; ``last.ckpt`` holds the step it stopped at, the run's events
record the interruption and ``doctor`` reports it.
"""

from __future__ import annotations

import json
import logging
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers.datasets import make_dataset

TRAIN = ("--batch-size", "2", "--lr", "1e-3", "--precision", "32", "--no-lr-find", "--no-report")


@pytest.fixture
def cli(monkeypatch, capsys):
    """``cli(*args) -> (exit code, stdout, stderr)``: ``segtrain ARGS`` in this process."""
    from segtrain.cli.app import main

    logger = logging.getLogger("segtrain")
    saved = logger.handlers[:], logger.level, logger.propagate

    def run(*args):
        monkeypatch.setattr(sys, "argv", ["segtrain", *map(str, args)])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


def one_error_line(code: int, err: str, *fragments, expected: int = 2, prefix: str = "error: ") -> str:
    assert "Traceback" not in err, err
    assert code == expected, err
    lines = [line for line in err.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, err
    if expected == 2:
        assert err.strip().splitlines() == lines, err
    for fragment in fragments:
        assert str(fragment) in lines[0], f"{fragment!r} not in {lines[0]!r}"
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished one-epoch run (its dataset beside it), trained once for the module."""
    from helpers.cli import run_cli

    root = tmp_path_factory.mktemp("trained")
    data = make_dataset(root / "data", n=6, size=(32, 32))
    result = run_cli("train", data, "--out", root / "run", "--epochs", "1", *TRAIN, timeout=300)
    assert result.returncode == 0, result.stderr
    return root / "run"


def _copy(trained: Path, tmp: Path) -> Path:
    run = tmp / "run"
    shutil.copytree(trained, run)
    return run


# ----------------------------------------------------------------------------- Ctrl-C


def test_ctrl_c_during_training_exits_130_with_where_and_how_to_resume(tmp_path, monkeypatch, cli, no_memory_probe):
    from segtrain.engine import callbacks

    original = callbacks.StepLog.on_train_batch_end

    def interrupt_at_step_2(self, trainer, *args):
        original(self, trainer, *args)
        if trainer.global_step == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(callbacks.StepLog, "on_train_batch_end", interrupt_at_step_2)
    data = make_dataset(tmp_path / "data", n=10, size=(32, 32))
    run = tmp_path / "run"
    code, _, err = cli("train", data, "--out", run, "--epochs", "3", *TRAIN)
    monkeypatch.undo()
    line = one_error_line(code, err, "step 2", f"segtrain train --resume {run}", "last.ckpt",
                          expected=130, prefix="interrupted: ")
    assert err.strip().splitlines()[-1] == line  # the progress lines come before it
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Ctrl-C works again
    content = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert content["global_step"] == 2
    events = [json.loads(e) for e in (run / "events.jsonl").read_text().splitlines()]
    assert [e for e in events if e["kind"] == "interrupted"] == [
        {"kind": "interrupted", "step": 2, "epoch": 1, "checkpoint_saved": True,
         "detail": "Ctrl-C (SIGINT) during training"}]
    assert not (run / "report.html").exists()

    code, out, err = cli("doctor", run)
    assert code == 0, err
    assert "no problems found" not in out + err
    assert "interrupted" in out + err and "--resume" in out + err

    code, out, err = cli("train", "--resume", run, "--no-report")  # the interrupted run continues and ends
    assert code == 0, err
    code, out, err = cli("doctor", run)
    assert "interrupted" not in out + err, out + err


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT")
def test_sigint_to_a_real_train_process(tmp_path):
    data = make_dataset(tmp_path / "data", n=24, size=(32, 32))
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "segtrain.cli.app", "train", data, "--out", run, "--epochs", "50",
                             *TRAIN], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    deadline, metrics = time.monotonic() + 120, run / "metrics.csv"
    while time.monotonic() < deadline and proc.poll() is None and (
            not metrics.exists() or len(metrics.read_text().splitlines()) < 2):
        time.sleep(0.2)  # until the first epoch ended
    time.sleep(1.0)  # a few steps into the second
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    line = one_error_line(proc.returncode, err, "segtrain train --resume", str(run), expected=130,
                          prefix="interrupted: ")
    assert "epoch" in line and "step" in line
    assert (run / "checkpoints" / "last.ckpt").exists()
    assert "interrupted" in (run / "events.jsonl").read_text()


# ----------------------------------------------------------------------------- damaged run folders

DAMAGES = {
    "split_a_list": ("split.json", "[1, 2]", "evaluate", ["split.json", "a list"]),
    "split_invalid": ("split.json", "{", "evaluate", ["split.json", "not valid JSON"]),
    "split_without_test": ("split.json", '{"train": ["a"], "val": ["b"]}', "evaluate", ["split.json", "'test'"]),
    "split_deeply_nested": ("split.json", "[" * 100_000 + "]" * 100_000, "evaluate", ["split.json", "nested deeper"]),
    "metrics_garbage_row": ("metrics.csv", None, "report", ["metrics.csv", "row 3"]),
    "plan_negative_batch": ("plan.json", {"batch_size": -3}, "train", ["plan.json", "batch_size", "-3"]),
    "plan_zero_patch": ("plan.json", {"patch_size": 0}, "train", ["plan.json", "patch_size"]),
    "plan_negative_steps": ("plan.json", {"steps_per_epoch": -1}, "train", ["plan.json", "steps_per_epoch"]),
}


@pytest.mark.parametrize("name", sorted(DAMAGES))
def test_a_damaged_run_file_is_one_line(name, trained, tmp_path, cli):
    file, damage, verb, fragments = DAMAGES[name]
    run = _copy(trained, tmp_path)
    path = run / file
    if damage is None:
        path.write_text(path.read_text() + "garbage,,x\n")
    elif isinstance(damage, dict):
        plan = json.loads(path.read_text())
        plan.update(damage)
        path.write_text(json.dumps(plan))
    else:
        path.write_text(damage)
    if verb == "train":  # a plan handed to a new run with --plan
        data = trained.parent / "data"
        argv = ["train", data, "--out", tmp_path / "new", "--plan", path, *TRAIN]
    else:
        argv = [verb, run]
    before = sorted(p.name for p in run.rglob("*"))
    code, _, err = cli(*argv)
    one_error_line(code, err, path, *fragments[1:])
    assert sorted(p.name for p in run.rglob("*")) == before
    assert not (tmp_path / "new").exists()


def test_doctor_names_a_damaged_metrics_row(trained, tmp_path, cli):
    run = _copy(trained, tmp_path)
    (run / "metrics.csv").write_text((run / "metrics.csv").read_text() + "garbage,,x\n")
    code, _, err = cli("doctor", run)
    one_error_line(code, err, run / "metrics.csv", "row 3")


def test_a_checkpoint_of_another_width_is_one_line(trained, tmp_path, cli):
    run = _copy(trained, tmp_path)
    path = run / "checkpoints" / "best.ckpt"
    content = torch.load(path, map_location="cpu", weights_only=True)
    key = next(k for k, v in content["state_dict"].items() if v.ndim == 4)
    content["state_dict"][key] = torch.zeros(3, 3, 3, 3)
    torch.save(content, path)
    code, _, err = cli("evaluate", run)
    one_error_line(code, err, path, "do not fit", "shape")


def test_a_checkpoint_whose_segtrain_entry_lacks_keys_is_one_line(trained, tmp_path, cli):
    run = _copy(trained, tmp_path)
    path = run / "checkpoints" / "best.ckpt"
    content = torch.load(path, map_location="cpu", weights_only=True)
    del content["segtrain"]["num_classes"]
    torch.save(content, path)
    code, _, err = cli("evaluate", run)
    one_error_line(code, err, path, "num_classes")


def test_a_checkpoint_hiding_a_huge_tensor_is_refused_before_loading(trained, tmp_path, cli, monkeypatch):
    from segtrain.inference import checkpoints

    run = _copy(trained, tmp_path)
    path = run / "checkpoints" / "best.ckpt"
    content = torch.load(path, map_location="cpu", weights_only=True)
    content["state_dict"]["model.hidden"] = torch.zeros(2**20)  # 4 MiB of zeros, which deflate to almost nothing
    torch.save(content, path)
    monkeypatch.setattr(checkpoints, "MAX_CHECKPOINT_BYTES", 2**21)  # stands in for a 1 GiB tensor
    code, _, err = cli("evaluate", run)
    one_error_line(code, err, path, "MiB")


# ----------------------------------------------------------------------------- seeds and names


@pytest.mark.parametrize("seed", ["-1", str(2**32), str(2**64)])
def test_a_seed_out_of_range_names_the_flag(seed, tmp_path, cli):
    data = make_dataset(tmp_path / "data", n=6, size=(32, 32))
    code, _, err = cli("train", data, "--out", tmp_path / "run", "--seed", seed, "--epochs", "1", *TRAIN)
    one_error_line(code, err, "--seed")
    assert not (tmp_path / "run").exists()


def test_an_input_name_too_long_for_its_outputs_is_one_line(trained, tmp_path, cli):
    from PIL import Image

    image = trained.parent / "data" / "images" / "img_000.png"
    long = tmp_path / "in" / ("x" * 250 + ".png")
    long.parent.mkdir()
    Image.open(image).save(long)
    code, _, err = cli("predict", trained, long, "--out", tmp_path / "pred", "--probabilities")
    one_error_line(code, err, long.name[:40], "255")
    assert not (tmp_path / "pred").exists()


# ----------------------------------------------------------------------------- deep and huge inputs

DEEP_JSON = "[" * 100_000 + "]" * 100_000
DEEP_YAML = "train:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 80))


@pytest.mark.parametrize("where", ["config", "split_option", "dataset_split", "classes"])
def test_deeply_nested_inputs_are_one_line(where, tmp_path, cli):
    data = make_dataset(tmp_path / "data", n=6, size=(32, 32))
    argv = ["train", data, "--out", tmp_path / "run", "--epochs", "1", *TRAIN]
    if where == "config":
        path = tmp_path / "cfg.yaml"
        path.write_text(DEEP_YAML)
        argv += ["--config", path]
    elif where == "split_option":
        path = tmp_path / "mysplit.json"
        path.write_text(DEEP_JSON)
        argv += ["--split", path]
    else:
        path = data / ("split.json" if where == "dataset_split" else "classes.json")
        path.write_text(DEEP_JSON)
        argv = ["check", data] if where == "classes" else argv
    code, _, err = cli(*argv)
    one_error_line(code, err, path, "nested deeper than 32 levels")
    assert not (tmp_path / "run").exists()
