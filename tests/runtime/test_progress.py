"""Progress bars of predict, evaluate and check: on a terminal for long work only, never on stdout."""

from __future__ import annotations

import io
import json
import logging

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from helpers.networks import tiny_checkpoint, tiny_run_folder
from segtrain.runtime import progress
from segtrain.runtime.progress import LARGE_BYTES, MIN_ITEMS, largest_file, progress_bar, wanted


class _Stream(io.StringIO):
    def __init__(self, terminal: bool):
        super().__init__()
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


def test_a_bar_only_on_a_terminal_and_only_for_long_work(monkeypatch):
    monkeypatch.delenv("SEGTRAIN_PROGRESS", raising=False)
    tty, pipe = _Stream(True), _Stream(False)
    assert wanted(MIN_ITEMS + 1, stream=tty) and not wanted(MIN_ITEMS, stream=tty)
    assert wanted(1, LARGE_BYTES, stream=tty) and not wanted(1, LARGE_BYTES - 1, stream=tty)
    assert not wanted(1000, LARGE_BYTES, stream=pipe)
    monkeypatch.setenv("SEGTRAIN_PROGRESS", "0")
    assert not wanted(1000, stream=tty)


def test_largest_file_skips_what_cannot_be_read(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 10)
    (tmp_path / "b").write_bytes(b"x" * 3)
    assert largest_file([tmp_path / "a", tmp_path / "b", tmp_path / "missing"]) == 10
    assert largest_file([]) == 0


def test_the_bar_draws_on_its_stream_and_messages_go_above_it(capsys):
    logger, console = logging.getLogger("segtrain"), logging.StreamHandler(io.StringIO())
    logger.addHandler(console)  # as the CLI's console set-up does
    stream = _Stream(True)
    try:
        with progress_bar("predicting", 3, True, stream=stream) as advance:
            logger.warning("a message during the bar")
            for _ in range(3):
                advance()
        assert console in logger.handlers  # put back
    finally:
        logger.removeHandler(console)
    assert console.stream.getvalue() == ""  # printed above the bar instead
    assert "a message during the bar" in stream.getvalue()
    assert capsys.readouterr().out == ""
    with progress_bar("quiet", 3, False) as advance:
        advance()  # no bar: a no-op


def test_predict_json_stays_one_object_with_a_bar(tmp_path, monkeypatch):
    from segtrain.cli.app import app

    monkeypatch.setattr("segtrain.inference.files.wanted", lambda *a, **k: True)  # as on a terminal
    monkeypatch.setattr(progress.sys, "stderr", _Stream(True))
    run = tiny_run_folder(tmp_path / "run", tiny_checkpoint(classes=2, in_channels=1))
    images = tmp_path / "images"
    images.mkdir()
    for i in range(MIN_ITEMS + 2):
        Image.fromarray((np.arange(32 * 40).reshape(32, 40) % 251).astype(np.uint8)).save(images / f"i{i}.png")
    result = CliRunner().invoke(app, ["predict", str(run), str(images), "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert len(record["masks"]) == MIN_ITEMS + 2
