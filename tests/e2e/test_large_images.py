"""Images too large for memory, through the CLI: check, train, validate, evaluate by windows.

``SEGTRAIN_WINDOW_BYTES=1`` makes every TIFF count as too large, so tiny files take the window
paths end to end: check (strips), training patches (windows), validation and evaluation (bands).
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.cli import run_cli
from helpers.tiffs import write_tiff

pytestmark = pytest.mark.slow

TINY = "model:\n  depth: 2\n  width: 4\ntrain:\n  precision: '32'\n  early_stop_patience: null\n"


@pytest.fixture(scope="module")
def tiff_set(tmp_path_factory):
    """The synthetic horizon set as TIFFs, half memory-mapped, half tiled and compressed."""
    root = tmp_path_factory.mktemp("large")
    pngs = root / "pngs"
    assert run_cli("synth", "horizon", pngs, "--n", "12", "--size", "64", "--seed", "3").returncode == 0
    data = root / "data"
    for k, image in enumerate(sorted((pngs / "images").glob("*.png"))):
        layout = "contiguous" if k % 2 else "tiled-zlib"
        write_tiff(data / "images" / f"{image.stem}.tif", np.asarray(Image.open(image).convert("RGB")), layout)
        mask = np.asarray(Image.open(pngs / "masks" / image.name))
        write_tiff(data / "masks" / f"{image.stem}.tif", mask, layout)
    (root / "tiny.yaml").write_text(TINY)
    return root, data


def test_train_and_evaluate_by_windows(tiff_set, monkeypatch):
    root, data = tiff_set
    run = root / "run"
    monkeypatch.setenv("SEGTRAIN_WINDOW_BYTES", "1")
    trained = run_cli("train", data, "--out", run, "--epochs", "2", "--batch-size", "4", "--patch-size", "32",
                      "--no-lr-find", "--lr", "3e-3", "--config", root / "tiny.yaml")
    assert trained.returncode == 0, trained.stderr
    assert "12 images too large to hold in memory" in trained.stderr  # the window paths were taken
    rows = (run / "metrics.csv").read_text().splitlines()
    header, last = rows[0].split(","), rows[-1].split(",")
    assert len(rows) == 3 and math.isfinite(float(last[header.index("val_dice")]))
    assert math.isfinite(float(last[header.index("val_loss")]))
    assert (run / "report.html").is_file()

    windowed = run_cli("evaluate", run, "--json")
    monkeypatch.setenv("SEGTRAIN_WINDOW_BYTES", str(2**40))  # now every image is read whole
    whole = run_cli("evaluate", run, "--json")
    assert windowed.returncode == 0 and whole.returncode == 0, windowed.stderr + whole.stderr
    by_windows, in_memory = json.loads(windowed.stdout), json.loads(whole.stdout)
    assert by_windows["n_images"] == in_memory["n_images"] > 0
    for key in ("dice", "iou", "pixel_accuracy", "hd95", "boundary_f1", "horizon_row_error_px"):
        expected = in_memory[key]
        assert by_windows[key] == (None if expected is None else pytest.approx(expected, abs=1e-6)), key
    for a, b in zip(by_windows["per_image"], in_memory["per_image"]):
        assert a["stem"] == b["stem"] and a["dice"] == pytest.approx(b["dice"], abs=1e-6)
