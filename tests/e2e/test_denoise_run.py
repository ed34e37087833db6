"""A whole denoising run from the command line: synth noisy, train --task denoise, evaluate, predict, report."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from helpers.cli import run_cli

pytestmark = pytest.mark.slow


def test_synth_train_evaluate_predict(tmp_path):
    data, run, out = tmp_path / "data", tmp_path / "run", tmp_path / "pred"
    assert run_cli("synth", "noisy", data, "--n", "8", "--size", "64").returncode == 0
    config = tmp_path / "small.yaml"
    config.write_text("model: {width: 8, depth: 2}\n")
    done = run_cli("train", data, "--task", "denoise", "--budget", "15s", "--out", run, "--config", config)
    assert done.returncode == 0, done.stderr
    plan = json.loads((run / "plan.json").read_text())
    full = -(-plan["patches"] // plan["batch_size"])  # ceil(patches / batch), or cut to fit three validations
    assert plan["steps_per_epoch"] == full or plan["reasons"]["steps_per_epoch"].startswith(f"cut from {full}")
    assert plan["samples_seen"] == plan["batch_size"] * plan["steps_per_epoch"] * plan["epochs"]
    assert (run / "checkpoints" / "best.ckpt").exists() and (run / "report.html").exists()
    assert "Scores against clean images" in (run / "report.html").read_text()

    scored = run_cli("evaluate", run, "--json")
    assert scored.returncode == 0, scored.stderr
    result = json.loads(scored.stdout)
    assert result["task"] == "denoise" and result["scored"]
    assert {"noisy", "gaussian", "n2v"} <= set(result) and result["gaussian_chosen_on"] == "validation"

    image = np.random.default_rng(0).normal(120, 25, (70, 90)).clip(0, 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "odd.tif", image)
    predicted = run_cli("predict", run, tmp_path / "odd.tif", "--out", out)
    assert predicted.returncode == 0, predicted.stderr
    written = tifffile.imread(out / "odd.tif")
    assert written.shape == (70, 90) and written.dtype == np.float32

    import segtrain

    array = segtrain.load(run).predict(image)
    assert array.shape == (70, 90) and np.allclose(array, written, atol=1e-4)
    assert run_cli("doctor", run).returncode == 0
    again = run_cli("train", "--resume", run)
    assert again.returncode == 2 and "has finished" in again.stderr
    refused = run_cli("export", run)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [refused.stderr.strip()]  # one line
    assert refused.stderr.startswith("error: export: denoising runs cannot be exported yet")
