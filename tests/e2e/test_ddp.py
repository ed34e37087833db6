"""Two processes on the CPU (DDP over gloo, started by Lightning) train the run one process trains.

The single-process run has an effective batch of 8; the two-process run gives each process a
batch of 4, and the seeded stream hands each its half of every global batch, so every weight
update averages the gradients of the same 8 patches (group norm: no batch statistics). The
histories and the checkpoint must agree within float32 summation-order differences, and the
run folder is written once, by the first process.
"""

from __future__ import annotations

import csv
import json

import pytest
import torch

from helpers.cli import run_cli
from helpers.datasets import make_dataset

pytestmark = pytest.mark.slow

CONFIG = "model: {width: 8, depth: 2, norm: group}\ntrain: {precision: '32', early_stop_patience: null}\n"
OPTIONS = ("--max-steps", "4", "--steps-per-epoch", "2", "--lr", "3e-3", "--loss", "ce", "--no-lr-find",
           "--no-report", "--patch-size", "32")
TOLERANCE = 1e-4
"""Largest relative difference allowed in the histories: gradients summed in another order (gloo)."""
WEIGHT_ATOL = 1e-5
"""Largest weight difference allowed: AdamW divides each gradient by its running RMS, so a weight whose
gradient is near zero moves by up to lr (3e-3) per step whatever the gradient's size, and summation order
alone can move such weights by a few 1e-6 (measured: 4.9e-6 at most, in 2 of 29481 weights)."""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    import segtrain
    from helpers.planning import stand_in_memory_fit
    from segtrain.planning import batch

    root = tmp_path_factory.mktemp("ddp")
    data = make_dataset(root / "data", n=16, size=(32, 32))
    (root / "tiny.yaml").write_text(CONFIG)
    with pytest.MonkeyPatch.context() as patch:  # the two-process run reuses this plan's measurements
        patch.setattr(batch, "measure_cpu_memory", stand_in_memory_fit())
        one = segtrain.train(data, root / "one", config=root / "tiny.yaml", batch_size=8, progress=False,
                             report=False, max_steps=4, steps_per_epoch=2, lr=3e-3, loss="ce", lr_find=False,
                             patch_size=32)
    two = run_cli("train", data, "--out", root / "two", "--plan", one.run / "plan.json", "--config", root / "tiny.yaml",
                  "--batch-size", "4", "--devices", "2", "--strategy", "ddp", *OPTIONS)
    assert two.returncode == 0, two.stderr[-3000:]
    return one.run, root / "two", two


def _rows(path):
    return list(csv.DictReader(path.open()))


def test_two_processes_plan_the_same_global_batch(runs):
    one, two, _ = runs
    plan = json.loads((two / "plan.json").read_text())
    assert plan["processes"] == 2 and plan["batch_size"] == 4 and plan["effective_batch"] == 8
    assert plan["steps_per_epoch"] == json.loads((one / "plan.json").read_text())["steps_per_epoch"] == 2


def test_histories_agree_with_one_process(runs):
    one, two, _ = runs
    for name, columns in (("steps.csv", ("lr", "loss", "grad_norm")),
                          ("metrics.csv", ("train_loss", "val_loss", "val_dice", "val_iou"))):
        a, b = _rows(one / name), _rows(two / name)
        assert len(a) == len(b) > 0, name
        for row_a, row_b in zip(a, b):
            for column in columns:
                assert float(row_b[column]) == pytest.approx(float(row_a[column]), rel=TOLERANCE, abs=1e-6), (
                    name, column, row_a, row_b)


def test_checkpoint_agrees_with_one_process(runs):
    one, two, _ = runs
    a = torch.load(one / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(two / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(b[key].float(), a[key].float(), rtol=0, atol=WEIGHT_ATOL), key
    first = torch.load(one / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    assert first == 4


def test_files_written_once(runs):
    _, two, result = runs
    steps = [int(r["step"]) for r in _rows(two / "steps.csv")]
    assert steps == [1, 2, 3, 4]  # not one row per process
    assert [int(r["epoch"]) for r in _rows(two / "metrics.csv")] == [1, 2]
    assert result.stderr.count("run summary") == 1
