"""``segtrain doctor`` on real runs: one made to overfit, one to underfit, one made to diverge
with ``--lr 1e4``, and a healthy one that must give no warnings.

Planning's memory measurement (a fresh process per batch size) is replaced by a stand-in fit:
these tests are about what training records and what the diagnosis reads from it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.cli import run_cli
from helpers.datasets import make_dataset

pytestmark = pytest.mark.slow

TINY = "model: {width: 8, depth: 2}\naugment: {hflip: false, intensity: 0.0, rare_class_share: 0.0}\n"


@pytest.fixture(autouse=True)
def _planning_without_memory_probe(no_memory_probe):
    """Every test here trains; none is about planning."""


def _train(data, out, config_text, **options):
    import segtrain

    config = Path(out).parent / f"{Path(out).name}.yaml"
    config.write_text(config_text)
    options = {"batch_size": 2, "patch_size": 32, "precision": "32", "lr_find": False, **options}
    return segtrain.train(data, out, config=config, progress=False, report=False, **options)


def _codes(run) -> dict[str, str]:
    import segtrain

    return {f["code"]: f["severity"] for f in segtrain.doctor(run)["findings"]}


def _noise_dataset(root: Path, n: int) -> Path:
    """Images of pure noise with random blob masks: nothing to learn, everything to memorise."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    yy, xx = np.mgrid[0:32, 0:32]
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(root / "images" / f"n{i:02d}.png")
        cy, cx, r = rng.uniform(8, 24), rng.uniform(8, 24), rng.uniform(5, 12)
        mask = (((yy - cy) ** 2 + (xx - cx) ** 2) < r * r).astype(np.uint8)
        Image.fromarray(mask).save(root / "masks" / f"n{i:02d}.png")
    stems = [f"n{i:02d}" for i in range(n)]
    (root / "split.json").write_text(json.dumps({"train": stems[:2], "val": stems[2:8], "test": stems[8:]}))
    return root


def test_overfitting_run_is_diagnosed(tmp_path):
    data = _noise_dataset(tmp_path / "noise", 10)
    wide = TINY.replace("width: 8", "width: 16") + "train: {early_stop_patience: null}\n"
    result = _train(data, tmp_path / "overfit", wide, epochs=30, steps_per_epoch=8, lr=3e-3, schedule="constant")
    codes = _codes(result.run)
    assert "overfitting" in codes, codes
    finding = next(f for f in json.loads((result.run / "findings.json").read_text()) if f["code"] == "overfitting")
    rows = [line.split(",") for line in (result.run / "metrics.csv").read_text().splitlines()[1:]]
    val_losses = [float(row[3]) for row in rows]
    lowest = val_losses.index(min(val_losses)) + 1
    assert finding["epoch"] == lowest + 1  # it started the epoch after the lowest validation loss
    assert f"epoch {lowest + 1}" in finding["message"]


def test_underfitting_run_is_diagnosed(tmp_path):
    data = make_dataset(tmp_path / "data", n=20, size=(32, 32), channels=1, classes=2, seed=1)
    result = _train(data, tmp_path / "underfit", TINY, epochs=5, lr=1e-7)
    trained = {f.code: f.fix for f in result.findings}  # the diagnosis training ran, with its run record
    codes = _codes(result.run)
    assert "underfitting" in codes, codes
    assert "overfitting" not in codes
    assert "model.width: 16" in trained["underfitting"]  # twice the run's width 8, from the record
    doctor = {f["code"]: f["fix"] for f in json.loads((result.run / "findings.json").read_text())}
    assert "model.width: 16" in doctor["underfitting"]  # doctor rebuilt the same facts from the run folder


def test_healthy_run_has_no_warnings(tmp_path):
    data = make_dataset(tmp_path / "data", n=20, size=(32, 32), channels=1, classes=2, seed=1)
    result = _train(data, tmp_path / "healthy", TINY, epochs=8, lr=3e-3)
    assert result.best_val_dice is not None and result.best_val_dice > 0.8
    problems = {code: sev for code, sev in _codes(result.run).items() if sev in ("warning", "error")}
    assert problems == {}, problems


def test_huge_learning_rate_is_named_and_best_checkpoint_is_finite(tmp_path):
    data = make_dataset(tmp_path / "data", n=20, size=(32, 32), channels=1, classes=2, seed=1)
    result = _train(data, tmp_path / "huge", TINY, epochs=3, lr=1e4)
    assert result.stopped_by == "repeated non-finite or exploding steps"
    findings = json.loads((result.run / "findings.json").read_text())
    lr = next(f for f in findings if f["code"] == "lr_too_high")
    assert lr["severity"] == "error" and "learning rate" in lr["message"]
    best = torch.load(result.run / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    assert all(torch.isfinite(v).all() for v in best["state_dict"].values() if v.is_floating_point())
    cli = run_cli("doctor", result.run)  # the command a user runs, in its own process
    assert cli.returncode == 0 and "lr_too_high" in cli.stdout + cli.stderr
