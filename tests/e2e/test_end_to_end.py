"""A whole user path through the CLI on tiny synthetic data: synth, check, train, evaluate, predict."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.cli import run_cli

pytestmark = pytest.mark.slow

TINY = "model:\n  depth: 2\n  width: 4\ntrain:\n  precision: '32'\n"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    data, run = root / "data", root / "run"
    assert run_cli("synth", "horizon", data, "--n", "14", "--size", "48", "--seed", "1").returncode == 0
    (root / "tiny.yaml").write_text(TINY)
    result = run_cli("train", data, "--out", run, "--epochs", "2", "--batch-size", "4", "--config", root / "tiny.yaml",
                     "--json")
    assert result.returncode == 0, result.stderr
    return root, data, run, result


def test_run_folder_layout(trained):
    _, _, run, result = trained
    for name in ("config.yaml", "plan.json", "split.json", "metrics.csv", "checkpoints/best.ckpt", "checkpoints/last.ckpt"):
        assert (run / name).exists(), name
    rows = (run / "metrics.csv").read_text().strip().splitlines()
    assert rows[0].split(",")[:6] == ["epoch", "step", "train_loss", "val_loss", "val_dice", "val_iou"]
    assert len(rows) == 3  # header + one row per epoch
    import yaml

    config = yaml.safe_load((run / "config.yaml").read_text())
    assert Path(config["data"]["root"]).is_absolute()  # evaluate/predict work from any folder
    plan = json.loads((run / "plan.json").read_text())
    assert plan["sources"]["epochs"] == "user" and plan["batch_size"] == 4
    assert (run / "lr_find.csv").exists() and (run / "lr_find.png").exists()
    import csv

    from segtrain.optim.schedules import Schedule

    steps = list(csv.DictReader((run / "steps.csv").open()))
    assert len(steps) == plan["total_steps"]  # one row per weight update
    schedule = Schedule(plan["schedule"], plan["total_steps"], plan["warmup_steps"])
    for index, row in enumerate(steps):
        assert int(row["step"]) == index + 1
        assert float(row["lr"]) == pytest.approx(plan["lr"] * schedule(index), rel=1e-4)
    assert (run / "plots" / "steps.png").read_bytes()[:4] == b"\x89PNG"
    summary = result.stderr[result.stderr.index("run summary"):]
    best_epoch = max(range(2), key=lambda i: float(rows[1 + i].split(",")[4])) + 1  # the first maximum wins
    assert f"epoch {best_epoch}, validation Dice" in summary
    evaluation = json.loads((run / "evaluation.json").read_text())  # train ends on the test split ...
    assert f"Dice {evaluation['dice']:.4f}" in summary and "test (2 images)" in summary
    assert (run / "report.html").exists()  # ... and writes its report
    assert re.search(rf"^report +{re.escape(str(run / 'report.html'))}$", summary, re.MULTILINE)
    assert "Tip" not in result.stderr and "GPU available" not in result.stderr  # no library banners


def test_flips_and_post_processing_are_chosen_on_validation_and_saved(trained):
    _, _, run, result = trained
    refinement = json.loads((run / "refinement.json").read_text())
    assert refinement["images"] == 2  # the validation images, never the test ones
    assert refinement["tta_views"] == "as is, left-right"  # sky data: no vertical flips were trained
    kept = refinement["tta"] and refinement["tta_score"] > refinement["score_before"]
    assert refinement["tta"] == kept
    for trial in refinement["tried"]:
        assert trial["kept"] == (trial["score"] > trial["before"]) == (trial["step"] in refinement["steps"])
    meta = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)["segtrain"]
    assert meta["tta"] == refinement["tta"] and meta["postprocess"] == refinement["steps"]
    assert "validated on 2 images" in result.stderr


def test_train_and_predict_json_is_one_object_saying_what_was_written(trained, tmp_path):
    _, data, run, result = trained
    record = json.loads(result.stdout)  # the whole of stdout is one object
    assert record["run"] == str(run) and record["epochs"] == 2
    assert {"config.yaml", "plan.json", "checkpoints/best.ckpt", "evaluation.json", "report.html"} <= set(record["written"])
    assert record["evaluation"]["n_images"] == 2 and isinstance(record["findings"], list)
    predicted = run_cli("predict", run, data / "images", "--out", tmp_path / "pred", "--json")
    assert predicted.returncode == 0, predicted.stderr
    masks = json.loads(predicted.stdout)["masks"]
    assert len(masks) == 14 and all(Path(m).exists() for m in masks)


def test_checkpoint_is_safe_to_load_and_carries_config(trained):
    _, _, run, _ = trained
    checkpoint = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)
    assert checkpoint["segtrain"]["config"]["model"]["width"] == 4
    assert checkpoint["segtrain"]["num_classes"] == 2


def test_split_is_saved_and_test_never_trained_on(trained):
    _, _, run, _ = trained
    split = json.loads((run / "split.json").read_text())
    assert not set(split["test"]) & (set(split["train"]) | set(split["val"]))
    assert len(split["test"]) == 2 and len(split["val"]) == 2 and len(split["train"]) == 10


def test_evaluate_json(trained):
    _, _, run, _ = trained
    result = run_cli("evaluate", run, "--json")
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    for key in ("dice", "iou", "pixel_accuracy", "per_class", "n_images"):
        assert key in scores
    assert scores["n_images"] == 2 and len(scores["per_class"]) == 2
    assert (run / "evaluation.json").exists()


def test_predict_any_size(trained, tmp_path):
    _, data, run, _ = trained
    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 500, 3), dtype=np.uint8)).save(big)
    result = run_cli("predict", run, big, data / "images", "--out", tmp_path / "pred", "--probabilities")
    assert result.returncode == 0, result.stderr
    mask = np.array(Image.open(tmp_path / "pred" / "big.png"))
    assert mask.shape == (300, 500) and set(np.unique(mask)) <= {0, 1}
    assert len(list((tmp_path / "pred").glob("*.png"))) == 1 + 14
    import tifffile

    assert tifffile.imread(tmp_path / "pred" / "big_prob.tif").shape == (2, 300, 500)


def test_same_seed_same_weights(tmp_path):
    import segtrain

    data = segtrain.synth(tmp_path / "d", n=8, size=32, seed=2)
    config = {"model": {"depth": 2, "width": 4}, "train": {"precision": "32"}}
    states = []
    for name in ("a", "b"):
        result = segtrain.train(data, tmp_path / name, config=config, max_steps=3, batch_size=2, progress=False,
                                report=False)
        states.append(torch.load(result.run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"])
    assert states[0].keys() == states[1].keys()
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key


def test_multiclass_path(tmp_path):
    data, run = tmp_path / "data", tmp_path / "run"
    assert run_cli("synth", "horizon", data, "--n", "12", "--size", "48", "--classes", "3").returncode == 0
    (tmp_path / "tiny.yaml").write_text(TINY)
    result = run_cli("train", data, "--out", run, "--max-steps", "2", "--batch-size", "4", "--config", tmp_path / "tiny.yaml")
    assert result.returncode == 0, result.stderr
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["state_dict"]["model.head.weight"].shape[0] == 3  # one logit per class
    scores = json.loads(run_cli("evaluate", run, "--json").stdout)
    assert len(scores["per_class"]) == 3 and scores["headline"]["name"] == "mean_iou"
    plan = json.loads((run / "plan.json").read_text())
    assert plan["loss"] == "ce+dice" and "cross-entropy over 3 logits" in plan["reasons"]["loss"]
