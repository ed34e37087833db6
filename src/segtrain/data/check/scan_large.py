"""``check`` of an image too large for memory: its image and mask read strip by strip.

Same findings as :func:`segtrain.data.check.scan.scan_whole` (the report of a dataset is the same whichever
way its images are read), with neither the image nor the mask ever whole in memory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segtrain.data.check.scan import _check_mask_size, _check_sides, _Scan, _value_counts, merge_counts
from segtrain.data.discovery import Sample
from segtrain.data.readers import ColourMaskError, NonFiniteError
from segtrain.data.sample_io import refuse_windowed
from segtrain.data.windows import Moments, open_mask_windows, open_windows, read_dtype, strip_height, strips
from segtrain.errors import UserError


def scan_large(sample: Sample, colour: bool = False) -> _Scan:
    """:func:`~segtrain.data.check.scan.scan_whole` of an image too large for memory (:func:`~segtrain.data.windows.is_large`), read strip by
    strip: size and channels from the header, intensity statistics combined over strips, dtype from them,
    mask value counts added strip by strip; neither the image nor the mask is ever whole in memory.

    The instance-id check (:func:`~segtrain.data.check.scan._single_ids`) is skipped: it needs the connected components of the whole
    mask, so a large mask with many ids is taken as classes (``--num-classes`` still bounds them).
    """
    scan = _Scan(sample, windowed=True)
    try:
        refuse_windowed(sample)
    except UserError as exc:
        scan.problems.append(str(exc))
        return scan
    try:
        with open_windows(sample.image) as image:
            height, width, channels = image.shape
            image.refuse_nonfinite = False  # counted over the whole image below, as scan_whole's reader does
            moments, step = Moments(), strip_height(width, channels * 8)
            for start, stop in strips(height, step, image):
                moments.add(image.rows(start, stop))
        if moments.nonfinite:
            raise NonFiniteError(sample.image, moments.nonfinite, height * width * channels)
        scan.size, scan.channels = (height, width), channels
        scan.dtype = read_dtype(image.dtype, moments.low, moments.high).name
        scan.intensity = (*moments.overall(), moments.low, moments.high)
    except UserError as exc:
        scan.problems.append(str(exc))
    _check_sides(scan)
    try:
        try:
            scan.values, scan.counts, shape = _mask_counts(sample.mask, colour)
        except ColourMaskError:  # as in _scan: read again as colours
            scan.values, scan.counts, shape = _mask_counts(sample.mask, True)
            scan.colour_coded = True
    except UserError as exc:
        scan.problems.append(str(exc))
        return scan
    scan.colour = colour or scan.colour_coded
    _check_mask_size(scan, shape)
    return scan


def _mask_counts(path: Path, colour: bool) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Distinct values of a TIFF mask read by windows, their pixels and the mask's size, strip by strip."""
    tallies = []
    with open_mask_windows(path, colour) as mask:
        height, width = mask.shape
        for start, stop in strips(height, strip_height(width, 24), mask):
            tallies.append(_value_counts(mask.rows(start, stop)))
    values, counts = merge_counts([v for v, _ in tallies], [c for _, c in tallies])
    return values, counts, (height, width)
