"""The table printed after training."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from segtrain.cli.summary import print_summary
from segtrain.diagnosis.findings import Finding
from segtrain.engine.fit import TrainResult

EVALUATION = {
    "n_images": 3, "dice": 0.91234, "iou": 0.8, "pixel_accuracy": 0.95,
    "per_class": [{"name": "ground", "iou": 0.9, "dice": 0.947368, "precision": 0.95, "recall": 0.94},
                  {"name": "sky", "iou": 0.7, "dice": 0.823529, "precision": None, "recall": 0.0}],
}


def _result(tmp_path, **changes) -> TrainResult:
    run = tmp_path / "a run folder with a long name" / "run"
    values = dict(run=run, best_checkpoint=run / "checkpoints" / "best.ckpt", best_val_dice=0.87654, best_epoch=7,
                  epochs=9, steps=123, seconds=151, stopped_by="early stopping", evaluation=EVALUATION,
                  report=run / "report.html")
    return TrainResult(**{**values, **changes})


@pytest.fixture
def console(capsys):
    from segtrain.runtime.log import setup_console

    setup_console(logging.INFO)
    yield lambda: capsys.readouterr().err
    logging.getLogger("segtrain").handlers.clear()


def test_summary_rows(tmp_path, console):
    result = _result(tmp_path)
    print_summary(result)
    lines = console().splitlines()
    assert lines[0] == "run summary"
    rows = {line.split("  ")[0]: line.split("  ", 1)[1].strip() for line in lines[1:9]}
    assert rows["trained"] == "9 epochs, 123 steps in 2m31s"
    assert rows["stopped by"] == "early stopping"
    assert rows["best"] == "epoch 7, validation Dice 0.8765"
    assert rows["test (3 images)"] == "Dice 0.9123, IoU 0.8000, pixel accuracy 0.9500"
    assert rows["run folder"] == str(result.run)  # whole, on one line, outside a terminal
    assert rows["report"] == str(result.report)
    assert rows["findings"] == f"no problems found; segtrain doctor {result.run} tells more"
    table = [line.split() for line in lines[9:]]
    assert ["class", "iou", "dice", "precision", "recall"] in table
    assert ["ground", "0.9000", "0.9474", "0.9500", "0.9400"] in table
    assert ["sky", "0.7000", "0.8235", "n/a", "0.0000"] in table
    assert all(line == line.rstrip() for line in lines)


def test_summary_without_evaluation_points_to_findings(tmp_path, console):
    warning = Finding(code="overfitting", severity="warning", message="m", fix="f")
    info = Finding(code="early_stopping", severity="info", message="m", fix="f")
    result = _result(tmp_path, evaluation=None, report=None, best_epoch=None, best_val_dice=None,
                     findings=[warning, info])
    print_summary(result)
    text = console()
    assert "test (" not in text and "per class" not in text and "report " not in text
    assert re.search(r"^best +n/a, validation Dice n/a$", text, re.MULTILINE)
    assert f"1 above; details: segtrain doctor {result.run}" in text  # warnings and errors only


def test_a_warning_said_during_training_is_not_followed_by_no_problems_found(tmp_path, console):
    passed = Finding(code="unstable_validation", severity="info", fix="f",
                     message="during training (epoch 4): validation Dice swung; by the end of training it no longer showed")
    print_summary(_result(tmp_path, findings=[passed]))
    text = console()
    assert "no problems found" not in text
    assert "warned during training (unstable_validation), no longer by the end" in text


def test_quiet_prints_no_summary(tmp_path, console):
    logging.getLogger("segtrain").setLevel(logging.WARNING)
    print_summary(_result(tmp_path))
    assert console() == ""
