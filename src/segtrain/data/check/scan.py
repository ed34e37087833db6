"""One pass over one image/mask pair: what the data check learns from each file.

:func:`scan_whole` reads a pair whole; :func:`~segtrain.data.check.scan_large.scan_large` reads an image too
large for memory by strips and returns the same record. The label rules
(:mod:`segtrain.data.check.rules`) then read the records of the whole set.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from segtrain.data.classes import format_values
from segtrain.data.discovery import LOSSY_MASK_EXTS, Sample
from segtrain.data.readers import ColourMaskError, ReadError
from segtrain.data.sample_io import read_roi, read_sample_image, read_sample_mask

_INSTANCE_MIN_IDS = 8  # a mask with more non-zero ids than this is checked for instance ids (fewer: classes)
_MIN_SIDE = 3  # a side shorter than a 3x3 convolution holds no shape to learn: an export slip (a 1x1 placeholder)


@dataclass
class _Scan:
    """What one pass over a pair learned."""

    sample: Sample
    problems: list[str] = field(default_factory=list)
    size: tuple[int, int] | None = None
    channels: int | None = None
    dtype: str | None = None
    values: np.ndarray | None = None  # distinct mask values (packed colours when colour), sorted
    counts: np.ndarray | None = None  # pixels per value
    intensity: tuple[float, float, float, float] | None = None  # mean, std, min, max
    colour: bool = False  # values are packed colours
    colour_coded: bool = False  # the mask is colour-coded RGB (its channels differ)
    ids: int = 0  # non-zero ids, when checked for instance ids
    single_ids: int = 0  # ... of which one solid blob each (see _single_ids)
    windowed: bool = False  # too large for memory: read by windows (see scan_large.py)
    ignored: int = 0  # pixels left out of ``values``/``counts``: outside the region of interest, or of the ignore value

    @property
    def jpeg(self) -> bool:
        return self.sample.mask.suffix.lower() in LOSSY_MASK_EXTS


def _fmt_values(values) -> str:
    return format_values(values)


def _value_counts(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if mask.dtype in (np.uint8, np.uint16):
        counts = np.bincount(mask.ravel())
        values = np.flatnonzero(counts)
        return values, counts[values]
    return np.unique(mask, return_counts=True)


def _single_ids(mask: np.ndarray, values: np.ndarray) -> int:
    """How many non-zero ids of ``mask`` form one solid blob each.

    A solid blob is one 8-connected component with at least one pixel whose 4 neighbours
    share its id: objects have an inside, the thin runs of in-between values along the
    edges of resized or anti-aliased masks do not.
    """
    from scipy import ndimage

    labels = mask
    if int(values[-1]) > 65535 or mask.dtype.kind not in "u":  # huge sparse ids: renumber 1..n
        labels = (np.searchsorted(values, mask) + (0 if values[0] == 0 else 1)).astype(np.int32)
    structure = np.ones((3, 3), dtype=bool)
    single = 0
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        region = labels[box] == index
        inside = (region[1:-1, 1:-1] & region[:-2, 1:-1] & region[2:, 1:-1]
                  & region[1:-1, :-2] & region[1:-1, 2:])
        single += bool(inside.any()) and ndimage.label(region, structure)[1] == 1
    return int(single)


def scan_whole(sample: Sample, colour: bool = False) -> _Scan:
    """One pass over a pair read whole: image size, channels, intensity; mask values and their pixels."""
    scan = _Scan(sample)
    try:
        image = read_sample_image(sample)
        scan.size, scan.channels, scan.dtype = image.shape[:2], image.shape[2], image.dtype.name
        values = image.astype(np.float32, copy=False)
        scan.intensity = (float(values.mean()), float(values.std()), float(values.min()), float(values.max()))
        del values
        del image
    except ReadError as exc:
        scan.problems.append(str(exc))
    _check_sides(scan)
    try:
        try:
            mask = read_sample_mask(sample, colour=colour)
        except ColourMaskError:  # reported once for the whole set, with the colours found
            mask = read_sample_mask(sample, colour=True)
            scan.colour_coded = True
    except ReadError as exc:
        scan.problems.append(str(exc))
        return scan
    scan.colour = colour or scan.colour_coded
    _check_mask_size(scan, mask.shape)
    try:
        inside = read_roi(sample, mask.shape)
    except ReadError as exc:
        scan.problems.append(str(exc))
        return scan
    if inside is not None and not inside.any():
        scan.problems.append(f"{sample.roi}: the region of interest is empty (all 0); fix it or remove the image")
        return scan
    scan.values, scan.counts = _value_counts(mask if inside is None else mask[inside])
    scan.ignored = 0 if inside is None else int(inside.size - np.count_nonzero(inside))
    if not scan.colour and not scan.jpeg and scan.values[0] >= 0:
        ids = int(np.count_nonzero(scan.values))
        if ids > _INSTANCE_MIN_IDS:
            scan.ids, scan.single_ids = ids, _single_ids(mask, scan.values)
    return scan


def _check_sides(scan: _Scan) -> None:
    if scan.size is not None and min(scan.size) < _MIN_SIDE:
        scan.problems.append(f"{scan.sample.image}: only {scan.size[0]}x{scan.size[1]} pixels (HxW); images need at "
                             f"least {_MIN_SIDE} pixels per side, re-export it at full size or remove it")


def _check_mask_size(scan: _Scan, shape: tuple[int, int]) -> None:
    if scan.size is not None and tuple(shape) != tuple(scan.size):
        (mh, mw), (ih, iw) = shape, scan.size
        scan.problems.append(
            f"{scan.sample.mask}: size {mh}x{mw} (HxW) differs from its image {scan.sample.image} "
            f"({ih}x{iw}); resize or re-export the mask"
        )


def _histogram(scans: list[_Scan]) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values and their pixels over ``scans``."""
    return merge_counts([s.values for s in scans], [s.counts for s in scans])


def merge_counts(values: list[np.ndarray], counts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values and their summed counts over several ``(values, counts)`` tallies."""
    merged, inverse = np.unique(np.concatenate(values).astype(np.int64), return_inverse=True)
    totals = np.bincount(inverse.ravel(), weights=np.concatenate(counts).astype(np.float64))
    return merged, totals.round().astype(np.int64)

