"""``train --json`` and ``predict --json``: exactly one JSON object on stdout, saying what was written."""

import json

import pytest

from helpers.cli import run_cli
from helpers.datasets import make_dataset

pytestmark = pytest.mark.slow


def test_train_and_predict_print_one_json_object(tmp_path):
    data = make_dataset(tmp_path / "data", n=8, size=(32, 32))
    config = tmp_path / "tiny.yaml"
    config.write_text("model: {width: 4, depth: 2}\ntrain: {precision: '32'}\n")
    trained = run_cli("train", data, "--out", tmp_path / "run", "--epochs", "1", "--batch-size", "2", "--lr", "1e-3",
                      "--no-lr-find", "--config", config, "--json")
    assert trained.returncode == 0, trained.stderr
    record = json.loads(trained.stdout)  # the whole of stdout is one object
    assert record["run"] == str(tmp_path / "run") and record["epochs"] == 1
    assert {"config.yaml", "plan.json", "checkpoints/best.ckpt", "evaluation.json", "report.html"} <= set(record["written"])
    assert record["evaluation"]["n_images"] >= 1 and isinstance(record["findings"], list)
    predicted = run_cli("predict", tmp_path / "run", data / "images", "--out", tmp_path / "pred", "--json")
    assert predicted.returncode == 0, predicted.stderr
    masks = json.loads(predicted.stdout)["masks"]
    assert len(masks) == 8 and all((tmp_path / "pred" / name.split("/")[-1]).exists() for name in masks)
