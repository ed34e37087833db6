"""The command line as a user meets it: exit codes, one-line errors, JSON output."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.cli import run_cli
from helpers.datasets import make_dataset
from helpers.layouts import drive


def _assert_user_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_help_lists_the_verbs():
    result = run_cli("--help")
    assert result.returncode == 0
    for verb in ("check", "plan", "lr-find", "train", "evaluate", "predict", "demo", "synth"):
        assert verb in result.stdout


def test_installed_entry_point_answers():
    beside = Path(sys.executable).parent / "segtrain"
    exe = str(beside) if beside.exists() else shutil.which("segtrain")
    if exe is None:
        pytest.skip("the segtrain console script is not installed (install with `pip install -e .`)")
    result = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "train" in result.stdout


def test_check_ok_and_json(tmp_path):
    data = make_dataset(tmp_path / "d", n=5)
    result = run_cli("check", data)
    assert result.returncode == 0 and "5 image/mask pairs" in result.stderr
    result = run_cli("check", data, "--json")
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["n_pairs"] == 5 and report["num_classes"] == 2


def test_missing_mask(tmp_path):
    data = make_dataset(tmp_path / "d", n=4)
    (data / "masks" / "img_002.png").unlink()
    _assert_user_error(run_cli("check", data), "img_002.png", "no mask")


def test_truncated_png(tmp_path):
    data = make_dataset(tmp_path / "d", n=4)
    image = data / "images" / "img_001.png"
    image.write_bytes(image.read_bytes()[:60])
    _assert_user_error(run_cli("check", data), "img_001.png")


def test_mask_of_other_size(tmp_path):
    data = make_dataset(tmp_path / "d", n=4)
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(data / "masks" / "img_003.png")
    _assert_user_error(run_cli("check", data), "img_003.png", "differs")


def test_mask_values_outside_binary_classes(tmp_path):
    data = make_dataset(tmp_path / "d", n=10)
    Image.fromarray((np.arange(32 * 48).reshape(32, 48) % 6).astype(np.uint8)).save(data / "masks" / "img_004.png")
    _assert_user_error(run_cli("check", data), "img_004.png", "2, 3, 4, 5")


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / "e" / "images").mkdir(parents=True)
    (tmp_path / "e" / "masks").mkdir()
    _assert_user_error(run_cli("check", tmp_path / "e"), "images")
    _assert_user_error(run_cli("check", tmp_path / "nowhere"), "nowhere")


def test_every_problem_reported_at_once(tmp_path):
    data = make_dataset(tmp_path / "d", n=6)
    (data / "masks" / "img_000.png").unlink()
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(data / "masks" / "img_001.png")
    result = run_cli("check", data)
    _assert_user_error(result, "img_000.png", "img_001.png")
    assert len([line for line in result.stderr.splitlines() if line.startswith("error:")]) == 2


def test_train_refuses_broken_data_before_training(tmp_path):
    data = make_dataset(tmp_path / "d", n=6)
    (data / "masks" / "img_000.png").unlink()
    _assert_user_error(run_cli("train", data, "--out", tmp_path / "run"), "img_000.png")
    assert not (tmp_path / "run").exists()


def test_bad_options_are_user_errors(tmp_path):
    data = make_dataset(tmp_path / "d", n=6)
    _assert_user_error(run_cli("train", data, "--out", tmp_path / "r", "--budget", "soon"), "soon")
    _assert_user_error(run_cli("train", data, "--out", tmp_path / "r", "--patch-size", "100"), "multiple")
    _assert_user_error(run_cli("evaluate", tmp_path / "no-run"), "no-run")
    _assert_user_error(run_cli("synth", "horizon", tmp_path / "s", "--classes", "7"), "7")


def _bordered_dataset(root: Path, n: int = 6, size: int = 32) -> Path:
    """Masks of 0/1 with a 255 border around the object (VOC-like), gray images."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(3)
    for k in range(n):
        mask = np.zeros((size, size), np.uint8)
        mask[8:20, 8 + k:20 + k] = 1
        image = (mask * 150 + rng.integers(0, 60, mask.shape)).astype(np.uint8)
        mask[7, 8 + k:20 + k] = 255
        Image.fromarray(image).save(root / "images" / f"i{k}.png")
        Image.fromarray(mask).save(root / "masks" / f"i{k}.png")
    return root


def test_check_with_an_ignore_index(tmp_path):
    data = _bordered_dataset(tmp_path / "d")
    plain = run_cli("check", data)
    assert plain.returncode == 0 and "3 classes" in plain.stderr and "pass --ignore-index 255" in plain.stderr
    result = run_cli("check", data, "--ignore-index", "255")
    assert result.returncode == 0, result.stderr
    assert "2 classes: OK" in result.stderr and "of pixels ignored: value 255" in result.stderr
    report = json.loads(run_cli("check", data, "--ignore-index", "255", "--json").stdout)
    assert report["label_mapping"] == {"0": 0, "1": 1, "255": 255} and report["ignored_pixels"] == 6 * 12


@pytest.mark.slow
def test_train_with_an_ignore_index(tmp_path):
    data = _bordered_dataset(tmp_path / "d")
    result = run_cli("train", data, "--out", tmp_path / "run", "--ignore-index", "255", "--budget", "10s",
                     "--epochs", "2", "--batch-size", "2", "--no-lr-find", "--precision", "32", "--no-report",
                     timeout=300)
    assert result.returncode == 0, result.stderr
    config = (tmp_path / "run" / "config.yaml").read_text()
    assert "ignore_index: 255" in config


def test_cli_check_on_drive_prints_the_rule_and_the_field_of_view(tmp_path):
    root = drive(tmp_path / "DRIVE")
    result = run_cli("check", root)
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    assert "pairing: paired by rule: <name>_training <-> <name>_manual1" in out
    assert "(region of interest: training/mask/) [train]" in out
    assert out.count("paired by rule: <name>_training") == 1  # the notice is not said twice
    as_json = run_cli("check", root, "--json")
    assert json.loads(as_json.stdout)["layout"]["split"].startswith("from the split folders")
