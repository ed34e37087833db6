"""A corpus of bad inputs: each one exits with code 2 and ONE line on stderr, ``error: ...``, naming
what is wrong, where (the file, option or key) and the fix; no traceback; nothing on disk changed.

Each case builds its input in ``tmp_path`` and returns the command line and the fragments the
error line must hold. The CLI runs in this process (``segtrain.cli.app.main`` with ``sys.argv``
patched) for speed; a few cases also run as a subprocess, through the real entry point.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.planning import stand_in_memory_fit
from helpers.cli import run_cli
from helpers.datasets import make_dataset

# Options that make train refuse or start at once: nothing left to plan or measure.
TRAIN = ("--epochs", "1", "--batch-size", "2", "--lr", "1e-3", "--precision", "32", "--no-lr-find")

CASES = {}
STARTED = {"output_disk_full", "output_disk_full_in_an_existing_folder"}
"""Cases that fail after the run has started: its progress lines come before the one error line."""


def case(build):
    """Register ``build(tmp) -> (argv, fragments)`` under its name without the ``case_`` prefix."""
    CASES[build.__name__.removeprefix("case_")] = build
    return build


def _data(tmp: Path, **kwargs) -> Path:
    return make_dataset(tmp / "data", n=6, size=(32, 32), **kwargs)


def _train(data: Path, tmp: Path, *extra) -> list:
    return ["train", data, "--out", tmp / "out", *TRAIN, *extra]


def _gray(path: Path, size=(32, 32), value=100, fmt=None) -> None:
    Image.fromarray(np.full(size, value, np.uint8)).save(path, format=fmt)


def _split(data: Path, **splits) -> None:
    stems = [f"img_{i:03d}" for i in range(6)]
    content = {"train": stems[:4], "val": stems[4:5], "test": stems[5:]}
    content.update(splits)
    (data / "split.json").write_text(json.dumps(content))


# ----------------------------------------------------------------------------- images and masks

@case
def case_truncated_png(tmp):
    data = _data(tmp)
    image = data / "images" / "img_001.png"
    image.write_bytes(image.read_bytes()[:60])
    return ["check", data], ["img_001.png", "truncated"]


@case
def case_zero_byte_image(tmp):
    data = _data(tmp)
    (data / "images" / "img_002.png").write_bytes(b"")
    return ["check", data], ["img_002.png", "empty file"]


@case
def case_jpeg_bytes_named_png(tmp):
    data = _data(tmp)
    _gray(data / "images" / "img_003.png", fmt="JPEG")
    return ["check", data], ["img_003.png", "JPEG", ".jpg"]


@case
def case_one_pixel_image(tmp):
    data = _data(tmp)
    _gray(data / "images" / "img_004.png", size=(1, 1))
    _gray(data / "masks" / "img_004.png", size=(1, 1), value=1)
    return ["check", data], ["img_004.png", "1x1"]


@case
def case_mixed_gray_and_rgb(tmp):
    data = _data(tmp)
    Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(data / "images" / "img_000.png")
    return ["check", data], ["images", "mixed channel counts", "img_000.png"]


@case
def case_mask_of_another_size(tmp):
    data = _data(tmp)
    _gray(data / "masks" / "img_003.png", size=(16, 16), value=1)
    return ["check", data], ["masks", "img_003.png", "16x16", "differs"]


@case
def case_mask_with_stray_value(tmp):
    data = _data(tmp)
    mask = np.array(Image.open(data / "masks" / "img_002.png"))
    mask[5, 5] = 7
    Image.fromarray(mask).save(data / "masks" / "img_002.png")
    return ["check", data], ["img_002.png", "7"]


@case
def case_colour_mask_without_classes_json(tmp):
    data = _data(tmp)
    for path in (data / "masks").iterdir():
        index = np.array(Image.open(path))
        colours = np.array([[0, 0, 0], [255, 0, 0]], np.uint8)[index]
        Image.fromarray(colours).save(path)
    return ["check", data], ["classes.json", "colour"]


@case
def case_duplicate_stems(tmp):
    data = _data(tmp)
    Image.open(data / "images" / "img_000.png").save(data / "images" / "img_000.tif")
    return ["check", data], ["img_000.png", "img_000.tif", "same stem"]


@case
def case_images_folder_holds_only_other_files(tmp):
    data = _data(tmp)
    for path in (data / "images").iterdir():
        path.unlink()
    for name in ("notes.txt", ".DS_Store", "Thumbs.db"):
        (data / "images" / name).write_text("x")
    return ["check", data], ["images", "no images", "notes.txt"]


@case
def case_unicode_name_without_mask(tmp):
    data = _data(tmp)
    _gray(data / "images" / "ciel été 1.png")
    return ["check", data], ["images/ciel été 1.png", "no mask", "masks/ciel été 1.png"]


@case
def case_missing_dataset_folder(tmp):
    return ["check", tmp / "nowhere"], ["nowhere", "no such folder"]


@case
def case_missing_masks_folder(tmp):
    data = _data(tmp)
    shutil.rmtree(data / "masks")
    return ["check", data], ["masks", "missing"]


@case
def case_image_without_mask(tmp):
    data = _data(tmp)
    (data / "masks" / "img_005.png").unlink()
    return ["check", data], ["images/img_005.png", "no mask"]


@case
def case_empty_images_folder(tmp):
    data = _data(tmp)
    for path in (data / "images").iterdir():
        path.unlink()
    return ["check", data], ["images", "no images"]


@case
def case_more_classes_than_num_classes(tmp):
    data = _data(tmp, classes=4)
    return ["check", data, "--num-classes", "2"], ["4 classes", "--num-classes is 2", "--num-classes 4"]


# ----------------------------------------------------------------------------- output folder

@case
def case_out_under_a_file(tmp):
    data = _data(tmp)
    (tmp / "afile").write_text("not a folder")
    return ["train", data, "--out", tmp / "afile" / "run", *TRAIN], ["afile", "not a folder", "--out"]


@case
def case_out_is_a_file(tmp):
    data = _data(tmp)
    (tmp / "afile").write_text("not a folder")
    return ["train", data, "--out", tmp / "afile", *TRAIN], ["afile", "not a folder", "--out"]


def _disk_full(monkeypatch) -> None:
    """Every write of a run fails as on a full disk; planning measures no memory (a stand-in fit)."""
    from segtrain.planning import batch

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)  # every file of a run goes through atomic_write_bytes
    monkeypatch.setattr(batch, "measure_cpu_memory", stand_in_memory_fit())


@case
def case_output_disk_full(tmp, monkeypatch):
    _disk_full(monkeypatch)
    return _train(_data(tmp), tmp), [tmp / "out", "no space left on device; free space or pass another --out"]


@case
def case_output_disk_full_in_an_existing_folder(tmp, monkeypatch):
    _disk_full(monkeypatch)
    (tmp / "out").mkdir()
    (tmp / "out" / "notes.txt").write_text("mine")
    return _train(_data(tmp), tmp), [tmp / "out", "no space left on device"]


@case
def case_out_on_a_read_only_file_system(tmp, monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setattr(os, "statvfs", lambda path: SimpleNamespace(f_flag=os.ST_RDONLY), raising=False)
    return _train(_data(tmp), tmp), [tmp / "out", "read-only file system", "--out"]


@case
def case_out_without_write_permission(tmp, monkeypatch):
    monkeypatch.setattr(os, "access", lambda path, mode, **kwargs: not mode & os.W_OK)  # root may write anywhere
    return _train(_data(tmp), tmp), [tmp / "out", "no permission to write in", "--out"]


# ----------------------------------------------------------------------------- split files

@case
def case_split_names_missing_stems(tmp):
    data = _data(tmp)
    _split(data, train=["img_000", "img_001", "ghost"])
    return _train(data, tmp), ["split.json", "ghost"]


@case
def case_split_stem_in_two_splits(tmp):
    data = _data(tmp)
    _split(data, val=["img_000"])
    return _train(data, tmp), ["split.json", "img_000", "train", "val"]


@case
def case_split_relative_path_escaping(tmp):
    data = _data(tmp)
    _split(data, test=["../../etc/passwd"])
    return _train(data, tmp), ["split.json", "../../etc/passwd", "stem"]


@case
def case_split_absolute_path(tmp):
    data = _data(tmp)
    _split(data, test=["/etc/passwd"])
    return _train(data, tmp), ["split.json", "/etc/passwd", "stem"]


@case
def case_split_not_json(tmp):
    data = _data(tmp)
    (data / "split.json").write_text('{"train": ["img_000",')
    return _train(data, tmp), ["split.json", "not valid JSON"]


@case
def case_split_option_missing_file(tmp):
    return _train(_data(tmp), tmp, "--split", tmp / "none.json"), ["none.json", "no such split file", "--split"]


@case
def case_split_option_names_a_folder(tmp):
    (tmp / "splits").mkdir()
    return _train(_data(tmp), tmp, "--split", tmp / "splits"), ["splits", "folder", "--split"]


# ----------------------------------------------------------------------------- config files

def _config(tmp: Path, text: str) -> Path:
    path = tmp / "cfg.yaml"
    path.write_text(text)
    return path


@case
def case_config_unknown_key(tmp):
    config = _config(tmp, "train:\n  epochs: 1\n  epoks: 3\n")
    return _train(_data(tmp), tmp, "--config", config), ["cfg.yaml", "train.epoks", "unknown key"]


@case
def case_config_wrong_type(tmp):
    config = _config(tmp, "train: {epochs: many}\n")
    return _train(_data(tmp), tmp, "--config", config), ["cfg.yaml", "train.epochs", "many"]


@case
def case_config_not_a_mapping(tmp):
    config = _config(tmp, "- train\n- epochs\n")
    return _train(_data(tmp), tmp, "--config", config), ["cfg.yaml", "mapping"]


@case
def case_config_invalid_yaml(tmp):
    config = _config(tmp, "train: {epochs: 1\nmodel: [\n")
    return _train(_data(tmp), tmp, "--config", config), ["cfg.yaml", "not valid YAML"]


@case
def case_config_missing(tmp):
    return _train(_data(tmp), tmp, "--config", tmp / "nope.yaml"), ["nope.yaml", "no such config file"]


@case
def case_config_is_a_folder(tmp):
    return _train(_data(tmp), tmp, "--config", tmp), [str(tmp), "folder", "--config"]


# ----------------------------------------------------------------------------- options

@case
def case_lr_negative(tmp):
    return _train(_data(tmp), tmp, "--lr", "-1"), ["--lr", "-1", "greater than 0"]


@case
def case_lr_not_a_number(tmp):
    return _train(_data(tmp), tmp, "--lr", "abc"), ["Invalid value for '--lr': 'abc' is not a valid float."]


@case
def case_batch_size_zero(tmp):
    return _train(_data(tmp), tmp, "--batch-size", "0"), ["--batch-size", "0"]


@case
def case_epochs_zero(tmp):
    return _train(_data(tmp), tmp, "--epochs", "0"), ["--epochs", "0"]


@case
def case_budget_not_a_duration(tmp):
    return _train(_data(tmp), tmp, "--budget", "abc"), ["--budget", "abc", "5m"]


@case
def case_budget_negative(tmp):
    return _train(_data(tmp), tmp, "--budget", "-5m"), ["--budget", "-5m", "positive"]


@case
def case_patch_larger_than_every_image(tmp):
    return _train(_data(tmp), tmp, "--patch-size", "512"), [
        "--patch-size 512 is larger than every training image (largest 32x32); use 32 or less"]


@case
def case_patch_not_a_multiple_of_2_to_the_depth(tmp):
    return _train(_data(tmp), tmp, "--patch-size", "50"), ["--patch-size", "50", "multiple", "48"]


@case
def case_num_classes_one(tmp):
    return _train(_data(tmp), tmp, "--num-classes", "1"), ["--num-classes", "1", "2"]


@case
def case_class_weights_not_numbers(tmp):
    return _train(_data(tmp), tmp, "--class-weights", "1,x"), ["--class-weights", "1,x"]


@case
def case_class_weights_count(tmp):
    return _train(_data(tmp), tmp, "--class-weights", "1,2,3"), ["--class-weights", "3 weights", "2 classes"]


@case
def case_loss_unknown(tmp):
    return _train(_data(tmp), tmp, "--loss", "nonsense"), ["--loss", "nonsense"]


@case
def case_threshold_above_one(tmp):
    return _train(_data(tmp), tmp, "--threshold", "1.5"), ["--threshold", "1.5"]


@case
def case_unknown_option(tmp):
    return _train(_data(tmp), tmp, "--frobnicate", "3"), ["No such option", "--frobnicate", "--help"]


@case
def case_missing_argument(tmp):
    return ["check"], ["Missing argument", "--help"]


# ----------------------------------------------------------------------------- evaluate and predict

def _fake_run(tmp: Path) -> Path:
    """A run folder whose best checkpoint is random bytes."""
    run = tmp / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "best.ckpt").write_bytes(np.random.default_rng(0).bytes(4096))
    (run / "split.json").write_text(json.dumps({"train": ["a"], "val": ["b"], "test": ["c"]}))
    return run


@case
def case_evaluate_a_folder_that_is_not_a_run(tmp):
    (tmp / "notarun").mkdir()
    return ["evaluate", tmp / "notarun"], ["notarun", "checkpoints/best.ckpt"]


@case
def case_checkpoint_that_is_not_a_checkpoint(tmp):
    return ["evaluate", _fake_run(tmp)], ["best.ckpt", "checkpoint"]


@case
def case_predict_missing_input(tmp):
    return ["predict", _fake_run(tmp), tmp / "missing.png", "--out", tmp / "pred"], ["missing.png", "no such file"]


@case
def case_predict_folder_without_images(tmp):
    (tmp / "photos").mkdir()
    (tmp / "photos" / "notes.txt").write_text("x")
    return ["predict", _fake_run(tmp), tmp / "photos", "--out", tmp / "pred"], ["photos", "no images"]


# ----------------------------------------------------------------------------- the harness

def _snapshot(root: Path) -> tuple[dict, set]:
    """Every file (relative path -> size, sha1, mode) and every folder under ``root``."""
    files, folders = {}, set()
    for folder, dirnames, filenames in os.walk(root):
        rel = Path(folder).relative_to(root)
        folders.update(str(rel / d) for d in dirnames)
        for name in filenames:
            path = Path(folder) / name
            stat = path.lstat()
            files[str(rel / name)] = (stat.st_size, hashlib.sha1(path.read_bytes()).hexdigest(), stat.st_mode)
    return files, folders


@pytest.fixture
def cli(monkeypatch, capsys):
    """``cli(*args) -> (exit code, stdout, stderr)``: ``segtrain ARGS`` in this process."""
    from segtrain.cli.app import main

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
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


def _assert_one_error_line(code, err, fragments, started=False):
    assert "Traceback" not in err, err
    assert code == 2, err
    if started:  # what was printed before the failure stays; the error is the last line, and the only one
        assert [line for line in err.splitlines() if line.startswith("error")] == err.splitlines()[-1:], err
        err = err.splitlines()[-1] + "\n"
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].strip(), err
    assert err.rstrip("\n") == lines[0] and err.count("\n") <= 1, err
    assert lines[0].startswith("error: "), err
    for fragment in fragments:
        assert str(fragment) in lines[0], f"{fragment!r} not in {lines[0]!r}"


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_exits_2_with_one_line_and_changes_nothing(name, tmp_path, monkeypatch, cli):
    build = CASES[name]
    monkeypatch.chdir(tmp_path)  # anything written relative to the working folder shows up too
    if build.__code__.co_argcount == 2:
        argv, fragments = build(tmp_path, monkeypatch)
    else:
        argv, fragments = build(tmp_path)
    before = _snapshot(tmp_path)
    code, _, err = cli(*argv)
    _assert_one_error_line(code, err, fragments, started=name in STARTED)
    assert _snapshot(tmp_path) == before


# ----------------------------------------------------------------------------- what is not an error

def test_unicode_and_spaces_in_names_are_valid(tmp_path, cli):
    data = _data(tmp_path)
    for folder in ("images", "masks"):
        (data / folder / "img_000.png").rename(data / folder / "ciel été 1.png")
    code, _, err = cli("check", data)
    assert code == 0, err
    assert "6 image/mask pairs" in err


def test_hidden_and_system_files_are_skipped_silently(tmp_path, cli):
    data = _data(tmp_path)
    for folder in ("images", "masks"):
        for name in (".DS_Store", "Thumbs.db", "desktop.ini", "._img_000.png"):
            (data / folder / name).write_bytes(b"\0\1")
    code, _, err = cli("check", data)
    assert code == 0, err
    assert "ignored" not in err and "Thumbs.db" not in err


def test_foreign_files_beside_images_are_a_notice(tmp_path, cli):
    data = _data(tmp_path)
    (data / "images" / "notes.txt").write_text("x")
    code, _, err = cli("check", data)
    assert code == 0, err
    assert "notes.txt" in err and "ignored 1 file" in err


def test_help_exits_0(cli):
    code, out, _ = cli("--help")
    assert code == 0 and "train" in out
    code, out, _ = cli("train", "--help")
    assert code == 0 and "--patch-size" in out


def test_no_arguments_show_the_help(cli):
    code, out, err = cli()
    assert "Usage" in out + err and "train" in out + err
    assert "Traceback" not in err


def test_a_failed_train_removes_the_run_folder_it_created(tmp_path, monkeypatch, cli):
    """The disk fills after the run folder is made: the folder and every missing parent go again."""
    data = _data(tmp_path)
    _disk_full(monkeypatch)
    code, _, err = cli("train", data, "--out", tmp_path / "runs" / "r1", *TRAIN)
    _assert_one_error_line(code, err, [str(tmp_path / "runs" / "r1"), "no space left on device"], started=True)
    assert not (tmp_path / "runs").exists()


# ----------------------------------------------------------------------------- the real entry point

@pytest.mark.parametrize("name", ["truncated_png", "lr_not_a_number", "patch_larger_than_every_image"])
def test_subprocess_entry_point(name, tmp_path):
    argv, fragments = CASES[name](tmp_path)
    before = _snapshot(tmp_path)
    result = run_cli(*argv, timeout=120)
    _assert_one_error_line(result.returncode, result.stderr, fragments)
    assert _snapshot(tmp_path) == before
