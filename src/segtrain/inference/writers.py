"""Writing predicted masks and probability maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def mask_values(label_mapping: dict) -> dict[int, int] | None:
    """Class index -> the value the training masks used for it, when that is unambiguous.

    A set of 0/255 masks trains classes 0/1 and gets 0/255 masks back; plain index masks
    are written as indices.
    """
    inverse: dict[int, int] = {}
    for raw, cls in label_mapping.items():
        if int(cls) in inverse:
            return None
        inverse[int(cls)] = int(raw)
    return inverse


def write_mask(path: Path, classes: np.ndarray, values: dict[int, int] | None = None, colour: bool = False) -> None:
    """A class mask as an 8-bit (or 16-bit beyond 255) single-channel PNG, each class written as
    ``values[class]``; with ``colour``, the values are packed colours ``R*65536 + G*256 + B`` and
    the mask is written as an RGB PNG (the colours of the training masks)."""
    from PIL import Image

    out = classes
    if values:
        lut = np.arange(max(int(classes.max(initial=0)), max(values)) + 1)
        for cls, raw in values.items():
            lut[cls] = raw
        out = lut[classes]
    if colour:
        rgb = np.stack([(out >> 16) & 255, (out >> 8) & 255, out & 255], axis=-1).astype(np.uint8)
        Image.fromarray(rgb).save(path)
        return
    dtype = np.uint8 if out.max(initial=0) < 256 else np.uint16
    Image.fromarray(out.astype(dtype)).save(path)


def write_probabilities(path: Path, probabilities: np.ndarray) -> None:
    """Per-class probabilities ``(K, H, W)`` as a float32 TIFF."""
    import tifffile

    tifffile.imwrite(path, probabilities.astype(np.float32))
