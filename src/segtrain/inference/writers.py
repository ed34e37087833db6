"""Writing predicted masks and probability maps.

The format rule of a predicted mask (one place: :func:`mask_dtype` and :func:`mask_suffix`): the values
written are those the training masks held (:func:`mask_values`), in the narrowest type that holds them all,

- ``uint8`` PNG when every value lies in 0..255,
- ``uint16`` PNG when every value lies in 0..65535,
- ``uint32`` TIFF when some value exceeds 65535 (``int32`` TIFF when some value is negative): PNG holds
  at most 16 bits, so such a mask is written as ``<stem>.tif``, never clipped to 65535;

colour-coded masks are RGB PNGs of the training masks' colours. Whatever values the training masks
held come back from ``predict``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segtrain.data.label_mapping import IGNORE_LABEL


def mask_values(label_mapping: dict) -> dict[int, int] | None:
    """Class index -> the value the training masks used for it, when that is unambiguous.

    A set of 0/255 masks trains classes 0/1 and gets 0/255 masks back; plain index masks
    are written as indices. Raw values mapped to :data:`~segtrain.data.label_mapping.IGNORE_LABEL` (ignored, never
    predicted) are left out.
    """
    inverse: dict[int, int] = {}
    ignored = all(int(c) < IGNORE_LABEL for c in label_mapping.values() if int(c) != IGNORE_LABEL)
    for raw, cls in label_mapping.items():
        if ignored and int(cls) == IGNORE_LABEL:
            continue
        if int(cls) in inverse:
            return None
        inverse[int(cls)] = int(raw)
    return inverse


def mask_dtype(values: dict[int, int] | None, classes: int = 0) -> np.dtype:
    """The dtype of a mask whose pixels are ``values[class]`` (or the class indices ``0..classes-1`` without
    ``values``): the narrowest of uint8, uint16, uint32 (int32 with negative values) that holds them all."""
    written = [*(values or {}).values(), max(int(classes) - 1, 0)]
    if values:
        written.extend(c for c in range(int(classes)) if c not in values)  # classes the mapping lacks: their index
    low, high = min(written), max(written)
    if low < 0:
        return np.dtype(np.int32)
    for dtype in (np.uint8, np.uint16, np.uint32):
        if high <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    raise ValueError(f"mask value {high} does not fit 32 bits")


def mask_suffix(values: dict[int, int] | None, colour: bool = False, classes: int = 0) -> str:
    """``.png`` for masks of 8 or 16 bits (and colour masks), ``.tif`` for 32-bit ones (see the module docstring)."""
    if colour:
        return ".png"
    return ".png" if mask_dtype(values, classes).itemsize <= 2 else ".tif"


def write_mask(path: Path, classes: np.ndarray, values: dict[int, int] | None = None, colour: bool = False) -> Path:
    """Write a class mask, each class as ``values[class]``, in the format of the module docstring's rule;
    returns the path written: ``path``, or ``path`` with ``.tif`` for its suffix when the values need 32 bits
    and ``path`` names a PNG. With ``colour``, the values are packed colours ``R*65536 + G*256 + B`` and the
    mask is an RGB PNG (the colours of the training masks)."""
    from PIL import Image

    path = Path(path)
    out = np.asarray(classes).astype(np.int64, copy=False)
    dtype = mask_dtype(values, int(out.max(initial=0)) + 1)  # from the mapping: every mask of a run alike
    if values:
        lut = np.arange(max(int(out.max(initial=0)), max(values)) + 1, dtype=np.int64)
        for cls, raw in values.items():
            lut[cls] = raw
        out = lut[out]
    if colour:
        rgb = np.stack([(out >> 16) & 255, (out >> 8) & 255, out & 255], axis=-1).astype(np.uint8)
        Image.fromarray(rgb).save(path)
        return path
    if dtype.itemsize <= 2:
        Image.fromarray(out.astype(dtype)).save(path)
        return path
    import tifffile

    if path.suffix.lower() not in (".tif", ".tiff"):
        path = path.with_suffix(".tif")
    tifffile.imwrite(path, out.astype(dtype), compression="zlib")
    return path


def write_probabilities(path: Path, probabilities: np.ndarray) -> None:
    """Per-class probabilities ``(K, H, W)`` as a float32 TIFF."""
    import tifffile

    tifffile.imwrite(path, probabilities.astype(np.float32))
