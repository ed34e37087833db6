"""Checkpoints from strangers run no code: weights-only loading, proven with a crafted pickle."""

from __future__ import annotations

import os

import pytest
import torch

from segtrain.errors import UserError
from segtrain.inference.predictor import load_checkpoint


class _RunsCode:
    """Unpickling this calls ``os.system``: what a malicious checkpoint would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _crafted(path, marker):
    torch.save({"segtrain": _RunsCode(marker), "state_dict": {"model.w": torch.ones(1)}}, path)


def test_a_crafted_pickle_is_refused_and_runs_nothing(tmp_path):
    marker, path = tmp_path / "owned", tmp_path / "best.ckpt"
    _crafted(path, marker)
    with pytest.raises(UserError, match="refused: loading it would call .*system"):
        load_checkpoint(path)
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the proof that the file does run code when loaded unsafely
    assert marker.exists()


def test_a_plain_checkpoint_loads_weights_only(tmp_path):
    path = tmp_path / "last.ckpt"
    from helpers.networks import tiny_checkpoint  # a complete checkpoint: load_checkpoint checks its entries

    content = tiny_checkpoint()
    torch.save(content, path)
    key = next(iter(content["state_dict"]))
    assert torch.equal(load_checkpoint(path)["state_dict"][key], content["state_dict"][key])


@pytest.mark.parametrize("command", ["evaluate", "resume"])
def test_cli_refuses_crafted_checkpoints(tmp_path, command):
    from helpers.cli import run_cli

    run, marker = tmp_path / "run", tmp_path / "owned"
    (run / "checkpoints").mkdir(parents=True)
    for name in ("config.yaml", "plan.json", "split.json"):
        (run / name).write_text("{}\n")
    (run / "config.yaml").write_text(f"data: {{root: {tmp_path / 'nodata'}}}\n")
    _crafted(run / "checkpoints" / ("best.ckpt" if command == "evaluate" else "last.ckpt"), marker)
    args = ["evaluate", run] if command == "evaluate" else ["train", "--resume", run]
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    assert not marker.exists()
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "refused" in result.stderr and "system" in result.stderr
