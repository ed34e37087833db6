"""Hostile data and options: each case exits with code 2 and ONE line on stderr naming the file or the
flag the user typed (never a config key) and the fix; no traceback; the dataset's bytes unchanged.

Covers non-finite inputs (NaN/inf pixels, ``--lr inf``), entries that are not regular files (a folder,
a FIFO, a broken symbolic link named like an image: a FIFO is never opened), headers that lie, codecs
that are missing, names that differ only by Unicode normalisation, two masks for one image, summaries of
repeated problems, flags named in option errors (also on resume), and the hints of a verb without ``--out``.
The last part trains tiny runs: mask values of 8, 16 and 32 bits come back from ``predict``.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import struct
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from helpers.datasets import make_dataset

TRAIN = ("--epochs", "1", "--batch-size", "2", "--lr", "1e-3", "--precision", "32", "--no-lr-find")
CASES = {}


def case(build):
    """Register ``build(tmp) -> (argv, fragments)`` under its name without the ``case_`` prefix."""
    CASES[build.__name__.removeprefix("case_")] = build
    return build


def _data(tmp: Path, **kwargs) -> Path:
    return make_dataset(tmp / "data", n=6, size=(32, 32), **kwargs)


def _train(data: Path, tmp: Path, *extra) -> list:
    return ["train", data, "--out", tmp / "out", *TRAIN, *extra]


def _float_image(path: Path, bad: dict | None = None, fill=None) -> None:
    """A float32 TIFF; ``bad`` sets pixels ``{(y, x): value}``; ``fill`` fills every pixel."""
    arr = np.random.default_rng(0).random((32, 32), dtype=np.float32)
    if fill is not None:
        arr[:] = fill
    for (y, x), value in (bad or {}).items():
        arr[y, x] = value
    tifffile.imwrite(path, arr)


def _tiff_header(height: int, width: int, offset: int, count: int, compression: int = 1) -> bytes:
    """A one-strip 8-bit gray TIFF header claiming ``height x width`` pixels at ``offset`` (``count`` bytes)."""
    entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, compression), (262, 3, 1),
               (273, 4, offset), (277, 3, 1), (278, 4, height), (279, 4, count)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, kind, 1, value) if kind == 4 else struct.pack("<HHIHH", tag, kind, 1, value, 0)
        for tag, kind, value in entries) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd


# ----------------------------------------------------------------------------- non-finite inputs

@case
def case_image_with_nan_and_inf(tmp):
    data = _data(tmp)
    (data / "images" / "img_003.png").unlink()
    _float_image(data / "images" / "img_003.tif", {(3, 3): np.nan, (4, 4): np.inf, (5, 5): -np.inf})
    return ["check", data], ["images/img_003.tif", "3 of 1024", "NaN or infinite", "replace them"]


@case
def case_image_all_nan(tmp):
    data = _data(tmp)
    (data / "images" / "img_004.png").unlink()
    _float_image(data / "images" / "img_004.tif", fill=np.nan)
    return ["check", data], ["images/img_004.tif", "every pixel is NaN or infinite"]


@case
def case_train_refuses_an_image_with_inf(tmp):
    data = _data(tmp)
    (data / "images" / "img_002.png").unlink()
    _float_image(data / "images" / "img_002.tif", {(0, 0): np.inf})
    return _train(data, tmp), ["images/img_002.tif", "1 of 1024"]


@pytest.mark.parametrize("flag,value", [("--lr", "inf"), ("--lr", "nan"), ("--lr", "-inf"), ("--clip-grad", "inf"),
                                        ("--threshold", "nan")])
def test_non_finite_float_options_are_refused_by_flag(flag, value, tmp_path, cli):
    data = _data(tmp_path)
    before = _snapshot(tmp_path)
    code, _, err = cli(*_train(data, tmp_path), flag, value)
    _assert_one_error_line(code, err, [flag, "finite"])
    assert "train." not in err
    assert _snapshot(tmp_path) == before


def test_non_finite_class_weights_are_refused_by_flag(tmp_path, cli):
    code, _, err = cli(*_train(_data(tmp_path), tmp_path), "--class-weights", "1,inf")
    _assert_one_error_line(code, err, ["--class-weights", "finite", "1,5,5"])


def test_a_seed_numpy_cannot_take_is_refused_by_flag(tmp_path, cli):
    for seed in ("-1", str(2**32)):
        code, _, err = cli(*_train(_data(tmp_path), tmp_path), "--seed", seed)
        _assert_one_error_line(code, err, ["--seed"])


# ----------------------------------------------------------------------------- not regular files

@case
def case_folder_named_like_an_image(tmp):
    data = _data(tmp)
    (data / "images" / "img_003.png").unlink()
    (data / "images" / "img_003.png").mkdir()
    return ["check", data], ["images/img_003.png", "not a regular file", "a folder"]


@case
def case_fifo_named_like_an_image(tmp):
    data = _data(tmp)
    (data / "images" / "img_003.png").unlink()
    os.mkfifo(data / "images" / "img_003.png")  # opening it would block forever
    return ["check", data], ["images/img_003.png", "not a regular file", "FIFO"]


@case
def case_broken_symlink_named_like_a_mask(tmp):
    data = _data(tmp)
    (data / "masks" / "img_001.png").unlink()
    (data / "masks" / "img_001.png").symlink_to(tmp / "gone.png")
    return ["check", data], ["masks/img_001.png", "broken symbolic link", "gone.png"]


# ----------------------------------------------------------------------------- corrupt, lying, codec missing

@case
def case_png_header_claims_a_billion_pixels(tmp):
    data = _data(tmp)
    ihdr = struct.pack(">IIBBBBB", 31623, 31623, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", 0)
    (data / "images" / "img_002.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk)
    return ["check", data], ["images/img_002.png", "corrupt", "31623x31623", "33 bytes"]


@case
def case_16_byte_jpeg_claims_a_billion_pixels(tmp):
    data = _data(tmp)
    (data / "images" / "img_002.png").unlink()
    header = b"\xff\xd8\xff\xc0" + struct.pack(">HBHHB", 11, 8, 31623, 31623, 1) + b"\0\0\0\0"
    (data / "images" / "img_002.jpg").write_bytes(header[:16])
    return ["check", data], ["images/img_002.jpg", "corrupt", "31623x31623", "16 bytes"]


@case
def case_tiff_header_claims_a_billion_pixels(tmp, monkeypatch):
    monkeypatch.setenv("SEGTRAIN_WINDOW_BYTES", "100000")  # "too large for memory" is the wrong path for it
    data = _data(tmp)
    (data / "images" / "img_001.png").unlink()
    (data / "images" / "img_001.tif").write_bytes(_tiff_header(31623, 31623, 8, 100))
    return ["check", data], ["images/img_001.tif", "corrupt", "31623x31623"]


@case
def case_tiff_strips_past_the_end(tmp):
    data = _data(tmp)
    (data / "images" / "img_001.png").unlink()
    (data / "images" / "img_001.tif").write_bytes(_tiff_header(64, 64, 10**6, 4096))
    return ["check", data], ["images/img_001.tif", "corrupt", "past the end"]


@case
def case_tiff_codec_not_installed(tmp):
    pytest.importorskip("tifffile")
    try:
        import imagecodecs  # noqa: F401
        pytest.skip("imagecodecs is installed: every codec is there")
    except ImportError:
        pass
    data = _data(tmp)
    (data / "images" / "img_001.png").unlink()
    path = data / "images" / "img_001.tif"
    tifffile.imwrite(path, np.zeros((32, 32), np.uint8), compression="zlib")
    raw = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages[0].tags["Compression"].valueoffset
    struct.pack_into("<H", raw, offset, 34712)  # JPEG 2000: needs imagecodecs
    path.write_bytes(bytes(raw))
    return ["check", data], ["images/img_001.tif", "codec", "pip install imagecodecs"]


# ----------------------------------------------------------------------------- names

@case
def case_names_differ_by_unicode_normalisation(tmp):
    data = _data(tmp)
    name = "ciel été"
    (data / "images" / "img_003.png").rename(data / "images" / (unicodedata.normalize("NFC", name) + ".png"))
    (data / "masks" / "img_003.png").rename(data / "masks" / (unicodedata.normalize("NFD", name) + ".png"))
    return ["check", data], ["images/ciel", "masks/ciel", "Unicode normalisation", "NFC", "NFD"]


@case
def case_two_masks_for_one_image(tmp):
    data = _data(tmp)
    (data / "masks" / "img_001_mask.png").write_bytes((data / "masks" / "img_001.png").read_bytes())
    return ["check", data], ["masks/img_001.png", "masks/img_001_mask.png", "images/img_001.png", "keep one"]


# ----------------------------------------------------------------------------- flags, not config keys

@case
def case_resume_with_another_workers(tmp):
    run = _tiny_run(tmp)
    return ["train", "--resume", run, "--workers", "3"], ["--workers 3", "--workers 0", "leave --workers out"]


@case
def case_resume_with_a_negative_cache(tmp):
    run = _tiny_run(tmp)
    return ["train", "--resume", run, "--cache-mb", "-1"], ["--cache-mb", "-1"]


@case
def case_resume_with_lr_inf(tmp):
    return ["train", "--resume", _tiny_run(tmp), "--lr", "inf"], ["--lr", "finite"]


@case
def case_predict_nan_as_not_finite(tmp):
    (tmp / "x.png").write_bytes(b"")
    return ["predict", _tiny_run(tmp), tmp / "x.png", "--out", tmp / "pred", "--nan-as", "nan"], [
        "--nan-as nan", "finite"]


def _tiny_run(tmp: Path) -> Path:
    """A finished tiny run folder, copied from one trained once per session."""
    import shutil

    run = tmp / "run"
    shutil.copytree(_TRAINED["run"], run)
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace(str(_TRAINED["data"]), str(tmp / "data")))
    shutil.copytree(_TRAINED["data"], tmp / "data")
    return run


_TRAINED: dict = {}


@pytest.fixture(scope="module", autouse=True)
def _trained(tmp_path_factory):
    """One tiny run (binary, 32x32, one epoch) for the cases that need a run folder."""
    from segtrain import api

    root = tmp_path_factory.mktemp("trained")
    data = make_dataset(root / "data", n=6, size=(32, 32))
    api.train(data, root / "run", epochs=1, batch_size=2, lr=1e-3, precision="32", lr_find=False, num_workers=0,
              report=False, progress=False)
    _TRAINED.update(run=root / "run", data=data)
    yield
    logging.getLogger("segtrain").handlers.clear()


@case
def case_predict_a_fifo(tmp):
    os.mkfifo(tmp / "scan.png")
    return ["predict", _tiny_run(tmp), tmp / "scan.png", "--out", tmp / "pred"], [
        "scan.png", "not a regular file", "FIFO"]


@case
def case_predict_a_folder_holding_a_fifo_named_tif(tmp):
    (tmp / "scans").mkdir()
    os.mkfifo(tmp / "scans" / "scan.tif")  # a TIFF reader opening it would block forever
    return ["predict", _tiny_run(tmp), tmp / "scans", "--out", tmp / "pred"], [
        "scans/scan.tif", "not a regular file", "FIFO"]


@case
def case_predict_a_header_that_lies(tmp):
    (tmp / "scan.tif").write_bytes(_tiff_header(31623, 31623, 8, 100))
    return ["predict", _tiny_run(tmp), tmp / "scan.tif", "--out", tmp / "pred"], ["scan.tif", "corrupt", "31623x31623"]


# ----------------------------------------------------------------------------- the harness

def _snapshot(root: Path) -> tuple[dict, set]:
    """Every entry (relative path -> size, sha1, mode) under ``root``; a FIFO or link is never opened."""
    files, folders = {}, set()
    for folder, dirnames, filenames in os.walk(root):
        rel = Path(folder).relative_to(root)
        folders.update(str(rel / d) for d in dirnames)
        for name in filenames:
            path = Path(folder) / name
            stat = path.lstat()
            regular = path.is_file() and not path.is_symlink()
            digest = hashlib.sha1(path.read_bytes()).hexdigest() if regular else None
            files[str(rel / name)] = (stat.st_size, digest, stat.st_mode)
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


def _assert_one_error_line(code, err, fragments):
    assert "Traceback" not in err, err
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert str(fragment) in lines[0], f"{fragment!r} not in {lines[0]!r}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input_exits_2_with_one_line_and_changes_nothing(name, tmp_path, monkeypatch, cli):
    build = CASES[name]
    monkeypatch.chdir(tmp_path)
    argv, fragments = build(tmp_path, monkeypatch) if build.__code__.co_argcount == 2 else build(tmp_path)
    before = _snapshot(tmp_path)
    code, _, err = cli(*argv)
    _assert_one_error_line(code, err, fragments)
    assert _snapshot(tmp_path) == before


# ----------------------------------------------------------------------------- summaries and hints

def test_ten_thousand_stray_empty_files_give_a_summary(tmp_path, cli):
    data = _data(tmp_path)
    for i in range(10_000):
        (data / "images" / f"x{i:05d}.png").write_bytes(b"")
    code, _, err = cli("check", data)
    lines = err.splitlines()
    assert code == 2 and "Traceback" not in err
    assert len(lines) == 4, err[:2000]
    assert "x00000.png" in lines[0] and "no mask" in lines[0]
    assert "and 9997 more files with the same problem" in lines[3] and str(data / "images") in lines[3]


def test_a_few_repeats_are_listed_whole(tmp_path, cli):
    data = _data(tmp_path)
    for stem in ("img_000", "img_001", "img_002", "img_003"):
        (data / "images" / f"{stem}.png").write_bytes(b"")
    code, _, err = cli("check", data)
    assert code == 2 and len(err.splitlines()) == 4 and "more files" not in err


def test_a_lonely_folder_named_like_an_image_is_skipped(tmp_path, cli):
    data = _data(tmp_path)
    (data / "images" / "sub.png").mkdir()
    code, _, err = cli("check", data)
    assert code == 0, err


def test_evaluate_on_a_full_disk_names_no_out_option(tmp_path, monkeypatch, cli):
    """``evaluate`` has no --out: its hint must not offer one."""
    from segtrain.cli.exits import _out_flag
    from segtrain.cli.app import app
    from segtrain.runtime.rundir import output_error

    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "run" / "evaluation.json"))
    monkeypatch.setattr(sys, "argv", ["segtrain", "evaluate", str(tmp_path / "run")])
    line = output_error(full, _out_flag(app))
    assert "no space left on device" in line and "--out" not in line
    monkeypatch.setattr(sys, "argv", ["segtrain", "train", "DATA", "--out", "RUN"])
    assert "pass another --out" in output_error(full, _out_flag(app))


# ----------------------------------------------------------------------------- predict

def _nan_image(tmp: Path) -> Path:
    path = tmp / "scan.tif"
    tifffile.imwrite(path, np.where(np.eye(32, dtype=bool), np.nan, 0.5).astype(np.float32))
    return path


def test_predict_refuses_nan_pixels_and_writes_nothing(tmp_path, cli):
    run, image = _tiny_run(tmp_path), _nan_image(tmp_path)
    before = _snapshot(tmp_path)
    code, _, err = cli("predict", run, image, "--out", tmp_path / "pred")
    _assert_one_error_line(code, err, ["scan.tif", "32 of 1024", "--nan-as"])
    assert _snapshot(tmp_path) == before and not (tmp_path / "pred").exists()


def test_predict_reads_nan_pixels_as_told(tmp_path, cli):
    run, image = _tiny_run(tmp_path), _nan_image(tmp_path)
    code, _, err = cli("predict", run, image, "--out", tmp_path / "pred", "--nan-as", "0")
    assert code == 0, err
    assert set(np.unique(np.array(Image.open(tmp_path / "pred" / "scan.png")))) <= {0, 1}



def test_predict_refusing_a_later_image_leaves_nothing_behind(tmp_path, cli):
    run = _tiny_run(tmp_path)
    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "a_good.png").write_bytes((tmp_path / "data" / "images" / "img_000.png").read_bytes())
    _nan_image(tmp_path).rename(folder / "b_nan.tif")
    before = _snapshot(tmp_path)
    code, _, err = cli("predict", run, folder, "--out", tmp_path / "pred")
    _assert_one_error_line(code, err, ["b_nan.tif", "NaN or infinite", "--nan-as"])
    assert _snapshot(tmp_path) == before and not (tmp_path / "pred").exists()


def test_predict_by_windows_refuses_nan_or_reads_it_as_told(tmp_path, monkeypatch, caplog):
    """A TIFF too large for memory is read by windows: the same refusal, and --nan-as works there too."""
    from segtrain import api
    from segtrain.errors import UserError
    from segtrain.inference import large

    monkeypatch.setattr(large, "MEMORY_FRACTION", 1e-12)  # every TIFF is predicted by windows
    run, image = _tiny_run(tmp_path), _nan_image(tmp_path)
    with caplog.at_level("INFO", logger="segtrain"), pytest.raises(UserError, match="scan.tif: .*NaN or infinite.*--nan-as"):
        api.predict(run, [image], tmp_path / "pred")
    assert not [r for r in caplog.records if "by windows" in r.getMessage()]  # refused before saying anything
    assert not (tmp_path / "pred").exists()
    written = api.predict(run, [image], tmp_path / "pred", nan_as=0.0)
    assert [p.name for p in written] == ["scan.tif"]
    assert set(np.unique(tifffile.imread(written[0])).tolist()) <= {0, 1}
