"""Options checked against the dataset, before anything is planned, measured, printed or written.

:func:`check_options_against_data` runs right after the dataset check passes. Each rule needs
the data (image sizes, classes, stems) and costs next to nothing, so a mistake in the options
ends the command within a second with one line, instead of after minutes of planning.
"""

from __future__ import annotations

from pathlib import Path

from segtrain.data.split import load_split
from segtrain.errors import UserError

_SMALLEST_PATCH = 16
"""The lower bound of ``train.patch_size`` in the schema: below it no smaller patch can be suggested."""


def check_options_against_data(cfg, report) -> None:
    """Refuse options that cannot work with this dataset.

    Parameters
    ----------
    cfg : SegtrainConfig
        The validated config of the run (options and config file merged).
    report : CheckReport
        The passed dataset check (:func:`~segtrain.data.check.dataset.check_dataset`).

    Raises
    ------
    UserError
        ``--patch-size`` larger than every image (patches would be all padding); more or fewer
        ``--class-weights`` than classes, or class weights for multilabel masks; a split file
        (``--split`` or ``DATA/split.json``) that does not fit the dataset.
    """
    _patch_size(cfg, report)
    _class_weights(cfg, report)
    _split_file(cfg, report)


def _patch_size(cfg, report) -> None:
    """A patch must fit inside at least one image (smaller images are padded, but not all of them)."""
    patch = cfg.train.patch_size
    if patch is None or not report.sizes:
        return
    if any(patch <= h and patch <= w for h, w in report.sizes.values()):
        return
    h, w = max(report.sizes.values(), key=lambda size: (min(size), size[0] * size[1]))
    multiple = 2**cfg.model.depth
    fitting = min(h, w) // multiple * multiple
    if fitting < max(multiple, _SMALLEST_PATCH):
        return  # every image is smaller than the smallest patch: padding is the only way
    raise UserError(f"--patch-size {patch} is larger than every training image (largest {h}x{w}); "
                    f"use {fitting} or less")


def _class_weights(cfg, report) -> None:
    weights = cfg.loss.class_weights
    if weights == "none":
        return
    if report.multilabel:
        raise UserError("--class-weights: multilabel masks have no classes to weigh; set loss.pos_weight instead")
    if isinstance(weights, list) and len(weights) != report.num_classes:
        raise UserError(f"--class-weights (loss.class_weights): {len(weights)} weights but the masks hold "
                        f"{report.num_classes} classes; give {report.num_classes} weights or 'frequency'")


def _split_file(cfg, report) -> None:
    """Read the split file the run will use now, so that its mistakes come before any message."""
    path = cfg.data.split_file
    if path is None and (Path(report.root) / "split.json").exists():
        path = Path(report.root) / "split.json"
    if path is not None:
        load_split(Path(path), [s.stem for s in report.samples])
