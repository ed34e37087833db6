"""``predict``: masks for image files of any size, written into a folder."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from segtrain.data.readers import read_image
from segtrain.errors import UserError
from segtrain.inference.large import predict_large, should_stream
from segtrain.inference.predictor import Predictor
from segtrain.inference.writers import mask_values, write_mask, write_probabilities

logger = logging.getLogger("segtrain")

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}


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
        else:
            raise UserError(f"{item}: no such file or folder")
    return files


def predict_files(predictor: Predictor, files: list[Path], out: Path, probabilities: bool = False) -> list[Path]:
    """``out/<stem>.png`` (and ``<stem>_prob.tif``) per file; a TIFF too large for memory by windows into ``<stem>.tif``."""
    values = mask_values(predictor.meta["label_mapping"])
    streamed = {file for file in files if should_stream(file, predictor)}
    if streamed and predictor.scale not in (1, 1.0):  # refused before anything is written
        file = sorted(streamed)[0]
        raise UserError(f"{file}: too large for memory, so it would be predicted by windows at its own resolution, "
                        f"but this model was trained at scale {predictor.scale}; resize the image by that scale "
                        "first, or train the model with --scale 1")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    labels = predictor.meta.get("multilabel")
    for file in files:
        if file in streamed:  # a TIFF too large for memory: by windows, into TIFF masks
            written.append(predict_large(predictor, file, out, probabilities, values))
            logger.info(f"{file} -> {written[-1]}")
            continue
        logits = predictor.logits(read_image(file))
        target = out / f"{file.stem}.png"
        if labels:  # one 0/255 mask per label
            for name, channel in zip(labels, predictor.classes(logits)):
                write_mask(out / f"{file.stem}_{name}.png", channel, {0: 0, 1: 255})
            target = out / f"{file.stem}_{labels[0]}.png"
        else:
            write_mask(target, predictor.classes(logits), values, bool(predictor.meta.get("colour_masks")))
        if probabilities:
            write_probabilities(out / f"{file.stem}_prob.tif", predictor.probabilities(logits))
        written.append(target)
        logger.info(f"{file} -> {target}")
    return written
