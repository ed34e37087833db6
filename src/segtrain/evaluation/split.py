"""``evaluate``: the run's best checkpoint scored on whole images of one split, saved in the run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segtrain.config.io import read_run_split
from segtrain.data.discovery import discover
from segtrain.data.layouts import LayoutOptions
from segtrain.errors import UserError
from segtrain.evaluation.samples import evaluate_samples
from segtrain.inference.predictor import Predictor
from segtrain.runtime.rundir import RunDir, write_json

SPLITS = ("train", "val", "test")


def evaluate_run(run: Path | str, data: Path | str | None = None, split: str = "test",
                 device: str = "cpu") -> dict[str, Any]:
    """Score the run's best checkpoint on ``split``; writes ``evaluation.json`` (``evaluation_<split>.json``)."""
    rundir = RunDir.open(run)
    if split not in SPLITS:
        raise UserError(f"--split {split!r}: choose train, val or test")
    predictor = Predictor.from_checkpoint(rundir.checkpoint(), device)
    root = Path(data) if data else predictor.config.data.root
    stems = read_run_split(rundir.split)[split]
    if not stems:
        raise UserError(f"{rundir.split}: the {split} split is empty; nothing to evaluate")
    available = {s.stem: s for s in discover(root, LayoutOptions.from_config(predictor.config.data)).samples}
    missing = [s for s in stems if s not in available]
    if missing:
        raise UserError(f"{root}: {len(missing)} {split} image(s) of the run are missing (e.g. {missing[0]}); pass --data")
    result = evaluate_samples(predictor, [available[s] for s in stems])
    result = {"split": split, "checkpoint": str(rundir.checkpoint()), "data": str(root), **result}
    write_json(rundir.evaluation if split == "test" else rundir.path / f"evaluation_{split}.json", result)
    return result
