"""Raw mask values to class indices: the one lookup that training, inference and scoring share.

The mapping itself is decided by the data check (``CheckReport.label_mapping``); this module only applies it.
"""

from __future__ import annotations

import numpy as np

from segtrain.data.classes import format_values

IGNORE_LABEL = 255
"""The class-map value of an ignored pixel in training labels: a raw ``--ignore-index`` value (``data.ignore_index``,
what the user sees in the mask files: CamVid's void 11, VOC's border 255, any value) maps to it, and so does
every pixel outside a region of interest. Never a class: a run with an ignored value has at most 255 classes."""

_LUT_RANGE = 1 << 17  # apply_label_mapping: a lookup table up to this range (1 MiB), else binary search


def apply_label_mapping(mask: np.ndarray, mapping: dict[int, int], default: int | None = None) -> np.ndarray:
    """Turn raw mask values into class indices with a lookup table.

    Parameters
    ----------
    mask : numpy.ndarray
        Integer (or bool) array of raw mask values, any shape.
    mapping : dict of int to int
        Raw value -> class index, e.g. ``CheckReport.label_mapping``.
    default : int, optional
        Class index for values missing from ``mapping`` (e.g. an ignore index);
        by default such values raise ``ValueError``.

    Returns
    -------
    numpy.ndarray
        ``int64`` class indices, same shape as ``mask``.
    """
    mask = np.asarray(mask)
    if mask.dtype.kind not in "biu":
        raise TypeError(f"mask must hold integers, not {mask.dtype}")
    if not mapping:
        raise ValueError("empty label mapping")
    if mask.size == 0:
        return np.zeros(mask.shape, dtype=np.int64)
    keys = np.fromiter(mapping.keys(), dtype=np.int64, count=len(mapping))
    vals = np.fromiter(mapping.values(), dtype=np.int64, count=len(mapping))
    lo = min(int(mask.min()), int(keys.min()))
    hi = max(int(mask.max()), int(keys.max()))
    fill = -1 if default is None else int(default)
    if hi - lo < _LUT_RANGE:
        lut = np.full(hi - lo + 1, fill, dtype=np.int64)
        known = np.zeros(hi - lo + 1, dtype=bool)
        lut[keys - lo], known[keys - lo] = vals, True
        index = mask if lo == 0 and mask.dtype.kind != "b" else mask.astype(np.int64) - lo
        out, hit = lut[index], known[index]
    else:  # a wide range (packed colours, huge ids): binary search over the sorted keys
        order = np.argsort(keys)
        keys, vals = keys[order], vals[order]
        pos = np.clip(np.searchsorted(keys, mask), 0, len(keys) - 1)
        hit = keys[pos] == mask
        out = np.where(hit, vals[pos], fill)
    if default is None and not hit.all():
        missing = np.unique(mask[~hit])
        raise ValueError(f"mask values {format_values(missing)} are not in the label mapping")
    return out.astype(np.int64, copy=False)


def ignore_label(data) -> int | None:
    """The label ignored pixels carry in a run with these data settings (a ``DataConfig``):
    :data:`IGNORE_LABEL` when a raw value is ignored (``data.ignore_index``) or other pixels are (``data.has_ignored``:
    ``classes.json``'s ignore values, outside regions of interest); None when every pixel counts. Losses, metrics,
    patch sampling and scores take this value, never ``data.ignore_index`` itself (a raw mask value)."""
    if data.ignore_index is None and not getattr(data, "has_ignored", False):
        return None
    return IGNORE_LABEL
