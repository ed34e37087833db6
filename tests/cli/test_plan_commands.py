"""plan, lr-find and train --plan through the command line."""

import json
import math

import pytest

from helpers.cli import run_cli
from helpers.datasets import make_dataset

pytestmark = pytest.mark.slow

TINY = "model:\n  depth: 2\n  width: 4\n"


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    root = tmp_path_factory.mktemp("plan")
    data = make_dataset(root / "data", n=20, size=(48, 64), channels=1, classes=2)
    (root / "tiny.yaml").write_text(TINY)
    result = run_cli("plan", data, "--config", root / "tiny.yaml", "--budget", "20s", "--json", "-o", root / "p" / "plan.json")
    assert result.returncode == 0, result.stderr
    return root, data, result


def test_plan_json_is_one_object_with_consistent_arithmetic(planned):
    root, _, result = planned
    plan = json.loads(result.stdout)
    for key in ("patch_size", "batch_size", "accumulate", "steps_per_epoch", "epochs", "total_steps", "samples_seen",
                "lr", "schedule", "optimizer", "loss", "precision", "patches", "reasons"):
        assert key in plan, key
    assert plan["steps_per_epoch"] <= math.ceil(plan["patches"] / (plan["batch_size"] * plan["accumulate"]))
    assert plan["samples_seen"] == plan["batch_size"] * plan["accumulate"] * plan["steps_per_epoch"] * plan["epochs"]
    assert plan["budget_s"] == 20 and plan["sources"]["budget_s"] == "user"
    assert plan["patch_size"] == 64 and plan["memory"]["per_sample_mb"] > 0  # 48x64 images whole (padded)
    assert json.loads((root / "p" / "plan.json").read_text())["lr"] == plan["lr"]
    assert (root / "p" / "lr_find.csv").exists() and (root / "p" / "lr_find.png").read_bytes()[:4] == b"\x89PNG"


def test_train_uses_the_plan_file_and_flags_override_it(planned):
    root, data, _ = planned
    run = root / "run"
    result = run_cli("train", data, "--plan", root / "p" / "plan.json", "--config", root / "tiny.yaml",
                     "--max-steps", "3", "--schedule", "onecycle", "--out", run, "--no-report")
    assert result.returncode == 0, result.stderr
    saved = json.loads((root / "p" / "plan.json").read_text())
    plan = json.loads((run / "plan.json").read_text())
    assert plan["sources"]["lr"] == "plan file" and plan["lr"] == saved["lr"]
    assert plan["sources"]["schedule"] == "user" and "schedule" in plan["overridden"]
    assert plan["total_steps"] == 3
    assert "lr_finder" not in plan  # nothing measured again


def test_lr_find_json_and_plot(planned, tmp_path):
    root, data, _ = planned
    result = run_cli("lr-find", data, "--config", root / "tiny.yaml", "--json", "-o", tmp_path)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["finder"]["steps"] <= 100 and found["lr"] > 0
    assert (tmp_path / "lr_find.png").exists() and (tmp_path / "lr_find.csv").exists()


def test_a_batch_that_cannot_fit_is_refused_before_training(planned, tmp_path):
    root, data, _ = planned
    result = run_cli("train", data, "--config", root / "tiny.yaml", "--batch-size", str(2**26), "--epochs", "1",
                     "--out", tmp_path / "run")
    assert result.returncode == 2 and "--batch-size 67108864 needs about" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_unreadable_plan_file_is_a_user_error(planned, tmp_path):
    root, data, _ = planned
    bad = tmp_path / "plan.json"
    bad.write_text("[1, 2]")
    result = run_cli("train", data, "--plan", bad, "--out", tmp_path / "run")
    assert result.returncode == 2 and "plan.json: holds a list at the top" in result.stderr
    result = run_cli("train", data, "--plan", tmp_path / "missing.json", "--out", tmp_path / "run")
    assert result.returncode == 2 and "no such plan file" in result.stderr
