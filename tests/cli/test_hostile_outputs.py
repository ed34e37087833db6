"""Outputs a hostile user points into the wrong place: each is refused with exit code 2 and ONE line
``error: ...`` naming the path, before anything is written; no traceback; the dataset's bytes unchanged;
a command refused after it started leaves nothing behind.

The CLI runs in this process (``segtrain.cli.app.main`` with ``sys.argv`` patched), as in
``test_bad_input.py``; the inputs are tiny synthetic files (``helpers.datasets``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.datasets import make_dataset
from helpers.planning import stand_in_memory_fit

TRAIN = ("--epochs", "1", "--batch-size", "2", "--lr", "1e-3", "--precision", "32", "--no-lr-find")
TINY = "model: {width: 4, depth: 2}\n"


def _snapshot(root: Path) -> dict:
    """Every file and folder under ``root``: relative path -> sha1 (files) or ``"dir"``."""
    found = {}
    for folder, dirnames, filenames in os.walk(root):
        rel = Path(folder).relative_to(root)
        found.update({str(rel / d): "dir" for d in dirnames})
        for name in filenames:
            found[str(rel / name)] = hashlib.sha1((Path(folder) / name).read_bytes()).hexdigest()
    return found


@pytest.fixture
def cli(monkeypatch, capsys):
    """``cli(*args) -> (exit code, stderr)``: ``segtrain ARGS`` in this process."""
    from segtrain.cli.app import main
    from segtrain.planning import batch

    monkeypatch.setattr(batch, "measure_cpu_memory", stand_in_memory_fit())
    logger = logging.getLogger("segtrain")
    saved = logger.handlers[:], logger.level, logger.propagate

    def run(*args):
        monkeypatch.setattr(sys, "argv", ["segtrain", *map(str, args)])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return code, capsys.readouterr().err

    yield run
    logger.handlers[:], logger.level, logger.propagate = saved


def _refused(cli, argv, fragments, watch: Path, gone=(), started=False):
    """``argv`` exits 2 with one ``error:`` line holding ``fragments``; nothing under ``watch`` changed.

    ``started``: the command failed after it began, so its progress lines come before the error line.
    """
    before = _snapshot(watch)
    code, err = cli(*argv)
    assert "Traceback" not in err, err
    assert code == 2, err
    lines = err.splitlines()
    if started:
        assert [line for line in lines if line.startswith("error")] == lines[-1:], err
        lines = lines[-1:]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert str(fragment) in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert _snapshot(watch) == before
    for path in gone:
        assert not os.path.lexists(path), path
    return lines[0]


@pytest.fixture
def data(tmp_path) -> Path:
    root = make_dataset(tmp_path / "data", n=6, size=(32, 32))
    (root / "split.json").write_text('{"train": ["img_000", "img_001", "img_002", "img_003"], '
                                     '"val": ["img_004"], "test": ["img_005"]}')
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny trained run (its own dataset), shared by the predict and report cases; treat as read-only."""
    import segtrain
    from segtrain.planning import batch

    root = tmp_path_factory.mktemp("hostile")
    config = root / "tiny.yaml"
    config.write_text(TINY)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(batch, "measure_cpu_memory", stand_in_memory_fit())
        segtrain.train(make_dataset(root / "data", n=6, size=(32, 32)), root / "run", epochs=1, batch_size=2,
                       patch_size=32, precision="32", lr=1e-3, lr_find=False, progress=False, config=config,
                       report=False)
    return root / "run"


# ----------------------------------------------------------------------------- predict

def test_predict_into_its_input_folder_is_refused(cli, trained, data, tmp_path):
    images = data / "images"
    _refused(cli, ["predict", trained, images, "--out", images], [images, "being read", "--out"], tmp_path)


def test_predict_into_the_folder_of_an_input_file_is_refused(cli, trained, data, tmp_path):
    image = data / "images" / "img_000.png"
    _refused(cli, ["predict", trained, image, "--out", data / "images" / "." / ".." / "images"],
             ["images", "--out"], tmp_path)


def test_predict_into_the_run_folder_is_refused(cli, trained, data, tmp_path):
    before = _snapshot(trained)
    _refused(cli, ["predict", trained, data / "images", "--out", trained], [trained, "--out"], tmp_path)
    assert _snapshot(trained) == before


def test_two_inputs_with_the_same_output_name_are_refused_with_both_paths(cli, trained, tmp_path):
    for folder, suffix in (("a", ".png"), ("b", ".tif")):
        (tmp_path / folder).mkdir()
        Image.fromarray(np.full((32, 32), 90, np.uint8)).save(tmp_path / folder / f"0001{suffix}")
    line = _refused(cli, ["predict", trained, tmp_path / "a", tmp_path / "b", "--out", tmp_path / "pred"],
                    [tmp_path / "a" / "0001.png", tmp_path / "b" / "0001.tif", "0001.png"], tmp_path,
                    gone=[tmp_path / "pred"])
    assert "separate --out" in line


def test_predict_over_files_segtrain_did_not_write_is_refused(cli, trained, data, tmp_path):
    (tmp_path / "pred").mkdir()
    (tmp_path / "pred" / "img_000.png").write_bytes(b"the user's own file")
    _refused(cli, ["predict", trained, data / "images", "--out", tmp_path / "pred"],
             [tmp_path / "pred", "img_000.png", "not written by segtrain"], tmp_path)


def test_a_refused_predict_leaves_no_output_folder(cli, trained, data, tmp_path):
    broken = data / "images" / "img_003.png"
    broken.write_bytes(broken.read_bytes()[:60])  # read after the first masks were written
    _refused(cli, ["predict", trained, data / "images", "--out", tmp_path / "out" / "pred"], ["img_003.png"],
             tmp_path, gone=[tmp_path / "out"], started=True)


def test_predicting_again_into_its_own_folder_works(cli, trained, data, tmp_path):
    for _ in range(2):
        code, err = cli("predict", trained, data / "images", "--out", tmp_path / "pred")
        assert code == 0, err
    assert len(list((tmp_path / "pred").glob("img_*.png"))) == 6


# ----------------------------------------------------------------------------- synth and demo

def test_synth_into_a_folder_holding_a_dataset_is_refused(cli, data, tmp_path):
    _refused(cli, ["synth", "horizon", data, "--n", "2", "--size", "16"], [data, "dataset", "images"], tmp_path)


def test_synth_again_into_its_own_folder_works(cli, tmp_path):
    for _ in range(2):
        code, err = cli("synth", "horizon", tmp_path / "s", "--n", "2", "--size", "16")
        assert code == 0, err


def test_demo_over_the_users_data_is_refused(cli, tmp_path):
    project = tmp_path / "proj"
    make_dataset(project / "data", n=3, size=(32, 32))
    _refused(cli, ["demo", "--out", project, "--n", "2"], [project / "data", "--out"], tmp_path)


def test_a_refused_demo_leaves_nothing(cli, tmp_path):
    _refused(cli, ["demo", "--out", tmp_path / "proj", "--n", "2", "--budget", "abc"], ["--budget", "abc"],
             tmp_path, gone=[tmp_path / "proj"])


# ----------------------------------------------------------------------------- plan and lr-find

@pytest.mark.parametrize("target", ["split.json", "images/img_000.png"])
def test_plan_into_the_dataset_is_refused(cli, data, tmp_path, target):
    _refused(cli, ["plan", data, "-o", data / target, *TRAIN], [data / target, "being read"], tmp_path)


def test_plan_over_a_file_segtrain_did_not_write_is_refused(cli, data, tmp_path):
    (tmp_path / "notes.json").write_text("{}")
    _refused(cli, ["plan", data, "-o", tmp_path / "notes.json", *TRAIN], ["notes.json", "not written by segtrain"],
             tmp_path)


def test_plan_over_the_config_it_reads_is_refused(cli, data, tmp_path):
    config = tmp_path / "cfg.yaml"
    config.write_text(TINY)
    _refused(cli, ["plan", data, "--config", config, "-o", config, *TRAIN], [config], tmp_path)


def test_plan_written_twice_to_the_same_file_works(cli, data, tmp_path):
    for _ in range(2):
        code, err = cli("plan", data, "-o", tmp_path / "plans" / "plan.json", *TRAIN)
        assert code == 0, err


def test_lr_find_into_the_dataset_is_refused(cli, data, tmp_path):
    _refused(cli, ["lr-find", data, "--out", data / "images", "--batch-size", "2"], [data / "images", "being read"],
             tmp_path)


# ----------------------------------------------------------------------------- train

@pytest.mark.parametrize("overwrite", [False, True])
def test_train_into_its_dataset_is_refused(cli, data, tmp_path, overwrite):
    (data / "config.yaml").write_text("mine")
    (data / "plots").mkdir()
    (data / "plots" / "figure.png").write_bytes(b"mine")
    extra = ["--overwrite"] if overwrite else []
    _refused(cli, ["train", data, "--out", data, *TRAIN, *extra], [data, "being read", "--out"], tmp_path)


def test_train_into_the_images_folder_is_refused(cli, data, tmp_path):
    _refused(cli, ["train", data, "--out", data / "images", *TRAIN], [data / "images", "--out"], tmp_path)


def test_train_into_a_folder_containing_the_dataset_is_refused(cli, data, tmp_path):
    _refused(cli, ["train", data, "--out", tmp_path, *TRAIN], [tmp_path, "contains", "--out"], tmp_path)


def test_train_into_the_root_folder_is_refused(cli, data, tmp_path):
    _refused(cli, ["train", data, "--out", "/", *TRAIN], ["/", "system folder", "--out"], tmp_path)


def test_train_into_the_home_folder_is_refused(cli, data, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    _refused(cli, ["train", data, "--out", tmp_path / "home", *TRAIN], ["home folder", "--out"], tmp_path)


def test_train_through_a_link_into_the_dataset_is_refused(cli, data, tmp_path):
    (tmp_path / "link").symlink_to(data / "masks")
    _refused(cli, ["train", data, "--out", tmp_path / "link", *TRAIN], [tmp_path / "link", "being read"], tmp_path)


def test_overwrite_of_a_folder_segtrain_did_not_write_is_refused(cli, data, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    for name in ("config.yaml", "split.json", "notes.txt"):
        (mine / name).write_text("the user's")
    _refused(cli, ["train", data, "--out", mine, *TRAIN, "--overwrite"], [mine, "segtrain did not write", "--out"],
             tmp_path)


def test_a_users_config_in_the_run_folder_is_refused(cli, data, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.yaml").write_text("the user's")
    _refused(cli, ["train", data, "--out", mine, *TRAIN], [mine, "config.yaml", "not written by segtrain"], tmp_path)


def test_overwrite_of_a_run_segtrain_wrote_still_works(cli, data, tmp_path):
    from segtrain.runtime.rundir import RunDir

    old = RunDir.create(tmp_path / "run")
    old.config.write_text("old")
    old.best.write_bytes(b"old weights")
    (old.path / "notes.txt").write_text("kept")
    code, err = cli("train", data, "--out", old.path, *TRAIN, "--overwrite", "--no-report")
    assert code == 0, err
    assert old.best.exists() and old.best.read_bytes() != b"old weights"
    assert (old.path / "notes.txt").read_text() == "kept"


def test_a_train_refused_after_the_run_folder_was_made_leaves_nothing(cli, data, tmp_path, monkeypatch):
    from segtrain.errors import UserError
    from segtrain.pipeline import run

    def refuse(*args, **kwargs):
        raise UserError("--seed 99999999999: refused late; pass a smaller --seed")

    monkeypatch.setattr(run, "_fit", refuse)
    _refused(cli, ["train", data, "--out", tmp_path / "runs" / "r1", *TRAIN], ["--seed"], tmp_path,
             gone=[tmp_path / "runs"], started=True)


def test_a_huge_seed_leaves_no_run_folder(cli, data, tmp_path):
    _refused(cli, ["train", data, "--out", tmp_path / "r1", *TRAIN, "--seed", str(2**40)], ["--seed"], tmp_path,
             gone=[tmp_path / "r1"])


# ----------------------------------------------------------------------------- report and convert

def test_a_refused_report_leaves_no_plots(cli, trained, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    (run / "checkpoints" / "best.ckpt").write_bytes(np.random.default_rng(0).bytes(4096))
    (run / "checkpoints" / "last.ckpt").unlink(missing_ok=True)
    _refused(cli, ["report", run], ["best.ckpt"], tmp_path, gone=[run / "plots", run / "report.html"])
    assert not [p for p in run.iterdir() if p.name.startswith(".plots")]


def test_report_twice_works_and_leaves_no_temporary(cli, trained, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    for _ in range(2):
        code, err = cli("report", run)
        assert code == 0, err
    assert (run / "plots" / "losses.png").is_file()
    assert not [p for p in run.iterdir() if p.name.startswith(".plots")]


def test_convert_into_a_folder_containing_the_dataset_is_refused(cli, data, tmp_path):
    _refused(cli, ["convert", "instances", data, tmp_path], [tmp_path, "contains", data], tmp_path)
