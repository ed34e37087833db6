"""Read one sample (:class:`~segtrain.data.discovery.Sample`): the one place that knows its parts.

A sample is more than an image file and a mask file:

- ``page``: one page of a multi-page TIFF image and of its multi-page mask (a stack read one page per sample);
- ``instances``: one mask file per object (the Data Science Bowl 2018 layout), merged here into one semantic
  mask, object pixels 1 and background 0 (what :mod:`segtrain.data.convert` writes for ``semantic``);
- ``roi``: a region-of-interest mask (DRIVE's field of view); pixels where it is 0 are ignored: their label
  becomes :data:`~segtrain.data.label_mapping.IGNORE_LABEL` (see :func:`~segtrain.data.labels.read_labels`).

Every reader of a sample's image or raw mask (check, training, evaluation, report, export) goes through
:func:`read_sample_image` and :func:`read_sample_mask`. Images too large for memory are read by windows, which
handle none of the three: :func:`refuse_windowed` says so in one line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segtrain.data.discovery import Sample
from segtrain.data.readers import NONFINITE_FIX, ReadError, read_image, read_mask
from segtrain.errors import UserError


def read_sample_image(sample: Sample, nan_as: float | None = None, nonfinite_fix: str = NONFINITE_FIX) -> np.ndarray:
    """The image of ``sample`` as :func:`~segtrain.data.readers.read_image` gives it (its page, if it has one)."""
    return read_image(sample.image, nan_as, nonfinite_fix, page=sample.page)


def merge_instances(paths: tuple[Path, ...] | list[Path]) -> np.ndarray:
    """``(H, W)`` uint8 semantic mask of per-object mask files: 1 where any object is, else 0.

    Raises
    ------
    ReadError
        An unreadable file, or files of different sizes (named).
    """
    merged: np.ndarray | None = None
    for path in paths:
        ids = read_mask(path, colour=True)  # any non-black pixel is the object, whatever its colour or depth
        if merged is None:
            merged = np.zeros(ids.shape, dtype=np.uint8)
        elif ids.shape != merged.shape:
            raise ReadError(path, f"size {ids.shape[0]}x{ids.shape[1]} (HxW) differs from the other object masks "
                                  f"of this image ({merged.shape[0]}x{merged.shape[1]})", "re-export the object masks")
        merged[ids != 0] = 1
    if merged is None:
        raise ValueError("no instance files")
    return merged


def read_sample_mask(sample: Sample, colour: bool = False) -> np.ndarray:
    """The raw mask of ``sample`` (``(H, W)``, values or packed colours as stored), as
    :func:`~segtrain.data.readers.read_mask` gives it: its page, or its object masks merged (0/1)."""
    if sample.instances:
        merged = merge_instances(sample.instances)
        return merged.astype(np.int32) * 65793 if colour else merged  # gray (1, 1, 1) as a packed colour
    return read_mask(sample.mask, colour=colour, page=sample.page)


def read_roi(sample: Sample, shape: tuple[int, int] | None = None) -> np.ndarray | None:
    """``(H, W)`` bool, True inside the region of interest of ``sample`` (nonzero pixels of its ROI mask, any
    colour); None when it has none (the whole image counts).

    Raises
    ------
    ReadError
        An unreadable ROI file, or one whose size differs from ``shape`` (the mask's).
    """
    if sample.roi is None:
        return None
    page = sample.page if sample.page is not None and sample.roi.suffix.lower() in (".tif", ".tiff") \
        and _pages(sample.roi) > 1 else None
    inside = read_mask(sample.roi, colour=True, page=page) != 0
    if shape is not None and inside.shape != tuple(shape):
        raise ReadError(sample.roi, f"region of interest of size {inside.shape[0]}x{inside.shape[1]} (HxW) differs "
                                    f"from its mask {sample.mask} ({shape[0]}x{shape[1]})", "re-export it at the mask's size")
    return inside


def _pages(path: Path) -> int:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            return len(tif.pages)
    except Exception:  # read_mask says what is wrong with it
        return 1


def refuse_windowed(sample: Sample) -> None:
    """Refuse, in one line naming the file, a sample read by windows (too large for memory) that has a page,
    per-object masks or a region of interest: windows read one whole-file page and one mask only."""
    what = ("a page of a multi-page TIFF" if sample.page is not None else
            "per-object masks" if sample.instances else "a region of interest" if sample.roi is not None else None)
    if what is not None:
        raise UserError(f"{sample.image}: too large for memory (read by windows), which cannot read {what}; cut "
                        "the image, its mask and its region of interest into smaller tiles")
