"""Every plot draws a PNG from a real run's files, and returns None when its data is missing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segtrain.reporting import plots

PNG = b"\x89PNG\r\n\x1a\n"


def _is_png(path) -> bool:
    if path is None or not Path(path).is_file() or Path(path).read_bytes()[:8] != PNG:
        return False
    with Image.open(path) as im:
        im.verify()
    return True


def test_every_plot_draws_the_tiny_run(tiny_run, tmp_path):
    run = tiny_run
    confusion = np.array([[50, 3], [2, 40]])
    drawn = {
        "losses": plots.plot_losses(run / "metrics.csv", tmp_path / "losses.png"),
        "val": plots.plot_val_metrics(run / "metrics.csv", tmp_path / "val.png", ["ground", "sky"]),
        "lr": plots.plot_lr(run / "steps.csv", tmp_path / "lr.png"),
        "grads": plots.plot_grad_norms(run / "grads.csv", tmp_path / "grads.png"),
        "hist": plots.plot_dice_histogram(run / "evaluation.json", tmp_path / "hist.png"),
        "confusion": plots.plot_confusion(confusion, tmp_path / "confusion.png", ["ground", "sky"]),
        "shares": plots.plot_class_shares(run / "plan.json", tmp_path / "shares.png", None, confusion),
        "steps": plots.plot_steps(run / "steps.csv", tmp_path / "steps.png"),
    }
    assert {name: _is_png(path) for name, path in drawn.items()} == {name: True for name in drawn}
    assert drawn["losses"] == tmp_path / "losses.png"


def test_plots_return_none_without_their_data(tmp_path):
    gone = tmp_path / "absent"
    out = tmp_path / "out.png"
    assert plots.plot_losses(gone / "metrics.csv", out) is None
    assert plots.plot_val_metrics(gone / "metrics.csv", out) is None
    assert plots.plot_lr(gone / "steps.csv", out) is None
    assert plots.plot_lr_find(gone / "lr_find.csv", gone / "plan.json", out) is None
    assert plots.plot_lr_find(None, None, out) is None
    assert plots.plot_grad_norms(gone / "grads.csv", out) is None
    assert plots.plot_dice_histogram(gone / "evaluation.json", out) is None
    assert plots.plot_confusion(None, out) is None
    assert plots.plot_class_shares(gone / "plan.json", out) is None
    header_only = tmp_path / "metrics.csv"
    header_only.write_text("epoch,step,train_loss,val_loss,val_dice\n")
    assert plots.plot_losses(header_only, out) is None
    no_rows = tmp_path / "evaluation.json"
    no_rows.write_text(json.dumps({"dice": 0.5, "per_image": []}))
    assert plots.plot_dice_histogram(no_rows, out) is None
    no_shares = tmp_path / "plan.json"
    no_shares.write_text(json.dumps({"lr": 0.01}))
    assert plots.plot_class_shares(no_shares, out) is None
    assert not out.exists()


def test_lr_find_marks_a_suggestion(tmp_path):
    lrs = np.logspace(-6, 0, 40)
    loss = 1.0 / (1.0 + np.exp(np.log10(lrs) + 3)) + 0.01 * np.sin(np.arange(40))
    csv = tmp_path / "lr_find.csv"
    rows = "".join(f"{i},{lr},{v},{v}\n" for i, (lr, v) in enumerate(zip(lrs, loss)))
    csv.write_text("step,lr,loss,smoothed\n" + rows)
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"lr_finder": {"suggestion": 1e-3}, "lr": 2e-3}))
    assert _is_png(plots.plot_lr_find(csv, plan, tmp_path / "a.png"))
    assert _is_png(plots.plot_lr_find(csv, None, tmp_path / "b.png"))  # no plan: the curve without the mark


def test_confusion_from_evaluation_and_multilabel_panels(tmp_path):
    evaluation = tmp_path / "evaluation.json"
    evaluation.write_text(json.dumps({"confusion": [[5, 1], [0, 4]]}))
    assert plots.read_confusion(evaluation).tolist() == [[5, 1], [0, 4]]
    evaluation.write_text(json.dumps({"dice": 1.0}))
    assert plots.read_confusion(evaluation) is None
    stack = np.array([[[9, 1], [2, 8]], [[7, 0], [0, 3]]])
    assert _is_png(plots.plot_confusion(stack, tmp_path / "ml.png", ["cell", "edge"]))


@pytest.mark.parametrize("evaluation, expected", [
    (None, []),
    ({"per_image": [{"stem": "a", "dice": 0.5}, {"stem": "b", "dice": None}, {"stem": "c", "dice": 1.0}]},
     [("a", 0.5), ("c", 1.0)]),
    ({"per_label": {"x": {"per_image": [{"stem": "a", "dice": 0.2}, {"stem": "b", "dice": 1.0}]},
                    "y": {"per_image": [{"stem": "a", "dice": 0.4}, {"stem": "b", "dice": None}]}}},
     [("a", pytest.approx(0.3)), ("b", 1.0)]),
])
def test_per_image_dice(evaluation, expected):
    assert plots.per_image_dice(evaluation) == expected
