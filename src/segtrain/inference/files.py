"""``predict``: masks for image files of any size, written into a folder."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from segtrain.data.headers import not_regular
from segtrain.data.readers import PREDICT_NONFINITE_FIX, precheck_image, read_image
from segtrain.errors import UserError
from segtrain.inference.large import predict_large, should_stream
from segtrain.inference.predictor import Predictor
from segtrain.inference.writers import mask_suffix, mask_values, write_mask, write_probabilities
from segtrain.runtime.outputs import claim, guard_output
from segtrain.runtime.progress import largest_file, progress_bar, wanted

logger = logging.getLogger("segtrain")

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}
NAME_MAX = 255
"""The longest file name (in bytes) most file systems take."""


def expand_inputs(inputs: Sequence[Path | str]) -> list[Path]:
    """Image files, and the images of folders (sorted; hidden files left out); a missing input is refused."""
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
            if not found:
                raise UserError(f"{item}: no images (.png, .jpg, .tif) in this folder")
            files.extend(found)
        elif item.is_file():
            files.append(item)
        elif not_regular(item) != "missing":  # a FIFO, a broken link: never opened (a FIFO blocks a reader)
            raise UserError(f"{item}: not a regular file ({not_regular(item)}); pass an image file or a folder")
        else:
            raise UserError(f"{item}: no such file or folder")
    unique = {}
    for file in files:  # the same image named twice (a file and its folder): predicted once
        unique.setdefault(file.resolve(), file)
    return list(unique.values())


def output_names(file: Path, labels, probabilities: bool, streamed: bool, mask_suffix: str = ".png") -> list[str]:
    """The names ``predict`` writes for ``file`` in its output folder (the first is the mask it reports)."""
    suffix = ".tif" if streamed else ".png"  # ``mask_suffix``: a class mask's (writers.mask_suffix: .tif for 32 bits)
    names = [f"{file.stem}_{name}{suffix}" for name in labels] if labels else \
        [f"{file.stem}{suffix if streamed else mask_suffix}"]
    return names + ([f"{file.stem}_prob.tif"] if probabilities else [])


def _planned_outputs(files: list[Path], labels, probabilities: bool, streamed: set, suffix: str = ".png"
                     ) -> dict[Path, list[str]]:
    """Every input's output names; two inputs that would write the same name, or a name too long, are refused."""
    planned, owner = {}, {}
    for file in files:
        planned[file] = output_names(file, labels, probabilities, file in streamed, suffix)
        for name in planned[file]:
            if len(name.encode()) > NAME_MAX:
                raise UserError(f"{file}: its output name {name} is longer than file systems allow ({NAME_MAX} "
                                "bytes); rename the image to a shorter name")
            other = owner.setdefault(name.casefold(), file)
            if other != file:
                raise UserError(f"{other} and {file}: both would be written as {name}; predict them into "
                                "separate --out folders or rename one")
    return planned


def predict_files(predictor: Predictor, files: list[Path], out: Path, probabilities: bool = False,
                  reads: Sequence[Path | str] = (), nan_as: float | None = None) -> list[Path]:
    """``out/<stem>.png`` (and ``<stem>_prob.tif``) per file; a TIFF too large for memory by windows into ``<stem>.tif``.

    Refused before anything is written: an ``out`` that :func:`~segtrain.runtime.outputs.guard_output`
    refuses (the folder of an input, a file segtrain did not write in the way; ``reads`` are further
    inputs such as the run folder), two inputs that would write the same name. ``out`` is marked as
    segtrain's; what the call created is removed again by ``remove_created`` when it is refused later.
    """
    values = mask_values(predictor.meta["label_mapping"])
    streamed = {file for file in files if should_stream(file, predictor)}
    if streamed and predictor.scale not in (1, 1.0):  # refused before anything is written
        file = sorted(streamed)[0]
        raise UserError(f"{file}: too large for memory, so it would be predicted by windows at its own resolution, "
                        f"but this model was trained at scale {predictor.scale}; resize the image by that scale "
                        "first, or train the model with --scale 1")
    for file in files:  # NaN pixels, a FIFO, a header that lies: refused before anything is written
        if file not in streamed:
            precheck_image(file, nan_as, PREDICT_NONFINITE_FIX)
    labels = predictor.meta.get("multilabel")
    planned = _planned_outputs(files, labels, probabilities, streamed,
                               mask_suffix(values, bool(predictor.meta.get("colour_masks"))))
    names = [name for group in planned.values() for name in group]
    folders = sorted({file.parent for file in files})  # the output may not be one, nor replace an input
    guard_output(out, inputs=[*files, *folders, *reads], names=names)
    claim(out, "predict", names)
    written = []
    with progress_bar("predicting", len(files), wanted(len(files), largest_file(files))) as advance:
        for file in files:
            if file in streamed:  # a TIFF too large for memory: by windows, into TIFF masks
                written.append(predict_large(predictor, file, out, probabilities, values, nan_as=nan_as))
            else:
                written.append(_predict_one(predictor, file, out, probabilities, values, labels, nan_as))
            logger.info(f"{file} -> {written[-1]}")
            advance()
    return written


def _predict_one(predictor: Predictor, file: Path, out: Path, probabilities: bool, values, labels,
                 nan_as: float | None) -> Path:
    """The mask (or label masks) and probabilities of one image held in memory; returns the (first) mask."""
    logits = predictor.logits(read_image(file, nan_as, PREDICT_NONFINITE_FIX))  # NaN/inf: refused unless nan_as
    target = out / f"{file.stem}.png"
    if labels:  # one 0/255 mask per label
        for name, channel in zip(labels, predictor.classes(logits)):
            write_mask(out / f"{file.stem}_{name}.png", channel, {0: 0, 1: 255})
        target = out / f"{file.stem}_{labels[0]}.png"
    else:
        target = write_mask(target, predictor.classes(logits), values, bool(predictor.meta.get("colour_masks")))
    if probabilities:
        write_probabilities(out / f"{file.stem}_prob.tif", predictor.probabilities(logits))
    return target
