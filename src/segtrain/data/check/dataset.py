"""Check a whole dataset folder in one pass and infer its classes.

:func:`check_dataset` decodes every image and mask once, collects every problem
(never stopping at the first) as one line ``<path>: <what is wrong>; <the fix>``,
and works out how raw mask values map to class indices (``label_mapping``).

Mask formats (``CheckReport.mask_format``)
------------------------------------------
``"index"``
    Gray values or palette indices name the classes (renumbered 0..K-1 in sorted
    order when they are not already 0..K-1).
``"binary"``, ``"binary 0/255"``
    Two classes stored as 0/1 or as 0/255 (255 read as 1).
``"colour"``
    Colour-coded RGB masks: read them with ``read_mask(path, colour=True)``; the
    mapping keys are packed colours ``R * 65536 + G * 256 + B``.
``"lossy"``
    Values near the class values (JPEG, resized masks) mapped to the nearest class
    value; the mapping lists every raw value seen.
``"instance"``
    One id per object: a problem; convert them with
    :func:`~segtrain.data.convert.convert_instances`.

Rules, in order
---------------
1. ``DATA/classes.json`` (see :mod:`segtrain.data.classes`) gives the classes; mask
   values or colours missing from it are one problem per mask.
2. Without it, colour-coded RGB masks are one dataset-level problem listing the
   colours found and a ``classes.json`` to write.
3. With ``num_classes`` not given: when some (non-JPEG) mask holds more than 8 non-zero
   ids, 90% of the ids of such masks are one solid blob each (one 8-connected component
   with an inside pixel), and the masks do not all hold the same values, the masks are
   instance masks (one problem).
4. Lossy values: with JPEG masks, or more than 8 and more than twice as many distinct
   values as class values, every value is mapped to the nearest class value when each
   lies closer to it than half the smallest gap between class values (the whole gap for
   JPEG) and the values off the class values hold at most 5% of the pixels (25% for
   JPEG) (a notice). Class values: those of ``classes.json``, else the values holding at
   least 1% of the pixels (JPEG: histogram peaks, see
   :func:`~segtrain.data.classes.dominant_values`). JPEG masks that fail this are one problem.
5. ``num_classes`` given: values within ``0..num_classes-1`` (0/255 read as 0/1 for 2
   classes) map to themselves; at most ``num_classes`` other values are renumbered in
   sorted order; more distinct values than classes is one problem naming both numbers.
6. Inferred: a set whose masks all hold only {0, 1} or only {0, 255} is binary (255
   read as 1); so is a set where at least 75% of the masks are binary and at most 10%
   are not, each non-binary mask being a problem; anything else has one class per
   distinct value, renumbered 0..K-1 in sorted order; a value on at most 4 pixels (and 0.1%
   of the pixels) of the whole set is a stray value: one problem per mask holding it.

Nothing on disk is written or modified.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from segtrain.data.classes import (
    CLASSES_FILE, ClassFile, dominant_values, format_value, format_values, read_class_file, snap_values,
)
from segtrain.data.discovery import LOSSY_MASK_EXTS, Sample, discover
from segtrain.data.readers import ColourMaskError, ReadError, read_image, read_mask, unpack_rgb
from segtrain._text import percent, plural
from segtrain.errors import UserError

_CHANNEL_NAMES = {1: "gray", 3: "RGB"}
_BINARY_SHARE = 0.75  # at least this share of binary masks ...
_OUTLIER_SHARE = 0.10  # ... and at most this share of others: a binary set with bad masks
_INSTANCE_MIN_IDS = 8  # a mask with more non-zero ids than this is checked for instance ids (fewer: classes)
_INSTANCE_SINGLE = 0.9  # ... and holds instances when this share of its ids are one solid blob each
_LOSSY_MIN_DISTINCT = 8  # more distinct values than this ...
_LOSSY_RATIO = 2  # ... and more than this many per class value suggest lossy values (PNG masks)
_LOSSY_MAX_SHARE = 0.05  # pixels off the class values allowed, PNG: protects rare real classes
_JPEG_MAX_SHARE = 0.25  # ... JPEG: edge ringing covers 10-20% of small masks with many objects at quality 75
_GRAY_AS_COLOUR = 65793  # gray g as the packed colour (g, g, g)
_MAX_COLOURS = 12  # colours listed in the colour-mask problem
_LUT_RANGE = 1 << 17  # apply_label_mapping: a lookup table up to this range (1 MiB), else binary search
_MIN_SIDE = 3  # a side shorter than a 3x3 convolution holds no shape to learn: an export slip (a 1x1 placeholder)
_STRAY_PIXELS = 4  # an inferred class value on at most this many pixels ...
_STRAY_SHARE = 1e-3  # ... and at most this share of all mask pixels is a stray value (a slip), not a learnable class


@dataclass
class CheckReport:
    """The result of :func:`check_dataset`.

    Attributes
    ----------
    root : Path
        The dataset folder, as given.
    n_pairs : int
        Complete image/mask pairs found.
    problems : list of str
        One line per problem; empty means the dataset is usable.
    notices : list of str
        Informational lines (inferred classes, 0/255 masks, lossy masks ...); empty when there
        are problems, so a failed check shows only what must be fixed.
    channels : int or None
        Channel count shared by all images (1 or 3); None if mixed or unknown.
    num_classes : int
        Number of classes, given or inferred (0 if no mask could be read).
    label_mapping : dict of int to int
        Raw mask value (packed colour when ``colour_masks``) -> class index, e.g. ``{0: 0, 255: 1}``.
    sizes : dict of str to (int, int)
        Stem -> image (H, W), for every pair whose image could be read.
    class_pixels : list of int
        Pixels per class over the masks of the pairs without any problem.
    class_names : list of str or None
        Class names from ``classes.json``; None without one.
    colour_masks : bool
        Read the masks with ``read_mask(path, colour=True)``.
    colours : list of ([int, int, int], int)
        Colour-coded masks: each colour found and its pixels, in the order of the
        suggested ``classes.json`` (black first, then by pixels); else empty.
    lossy_share : float
        Share of the pixels of the lossy masks that were mapped to the nearest class value (0 if none).
    mask_format : str
        "index", "binary", "binary 0/255", "colour", "lossy" or "instance" (see the module docstring).
    samples : list of Sample
        The complete pairs found, sorted by stem (not part of :meth:`to_dict`).
    class_pixels_per_image : dict of str to list of int
        Stem -> pixels per class, for every pair without any problem (not part of :meth:`to_dict`).
    intensity : dict of str to (float, float, float, float)
        Stem -> (mean, std, min, max) of the image's raw values over all channels (not part of :meth:`to_dict`).
    """

    root: Path
    n_pairs: int
    problems: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    channels: int | None = None
    num_classes: int = 0
    label_mapping: dict[int, int] = field(default_factory=dict)
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    class_pixels: list[int] = field(default_factory=list)
    class_names: list[str] | None = None
    colour_masks: bool = False
    colours: list[tuple[list[int], int]] = field(default_factory=list)
    lossy_share: float = 0.0
    mask_format: str = "index"
    multilabel: list[str] | None = None
    samples: list[Sample] = field(default_factory=list)
    class_pixels_per_image: dict[str, list[int]] = field(default_factory=dict)
    intensity: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def to_dict(self) -> dict:
        """Return a JSON-serialisable dict (paths as str, mapping keys as str)."""
        return {
            "root": str(self.root),
            "ok": self.ok,
            "n_pairs": self.n_pairs,
            "problems": list(self.problems),
            "notices": list(self.notices),
            "channels": self.channels,
            "num_classes": self.num_classes,
            "label_mapping": {str(k): int(v) for k, v in self.label_mapping.items()},
            "sizes": {stem: [int(h), int(w)] for stem, (h, w) in self.sizes.items()},
            "class_pixels": [int(n) for n in self.class_pixels],
            "class_names": None if self.class_names is None else list(self.class_names),
            "colour_masks": self.colour_masks,
            "colours": [[[int(c) for c in rgb], int(n)] for rgb, n in self.colours],
            "lossy_share": float(self.lossy_share),
            "mask_format": self.mask_format,
            "multilabel": None if self.multilabel is None else list(self.multilabel),
        }


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


def _scan(sample: Sample, colour: bool = False) -> _Scan:
    from segtrain.data.windows import is_large

    if is_large(sample.image):
        from segtrain.data.check.scan_large import scan_large

        return scan_large(sample, colour)
    scan = _Scan(sample)
    try:
        image = read_image(sample.image)
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
            mask = read_mask(sample.mask, colour=colour)
        except ColourMaskError:  # reported once for the whole set, with the colours found
            mask = read_mask(sample.mask, colour=True)
            scan.colour_coded = True
    except ReadError as exc:
        scan.problems.append(str(exc))
        return scan
    scan.colour = colour or scan.colour_coded
    _check_mask_size(scan, mask.shape)
    scan.values, scan.counts = _value_counts(mask)
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


def _is_binary(values: np.ndarray) -> bool:
    found = set(values.tolist())
    return found <= {0, 1} or found <= {0, 255}


def _binary_mapping(binary: list[_Scan]) -> dict[int, int]:
    """{0: 0, 1: 1}, {0: 0, 255: 1} or both, depending on what the binary masks hold."""
    held = set().union(*(s.values.tolist() for s in binary)) if binary else set()
    mapping = {0: 0}
    if 1 in held or 255 not in held:
        mapping[1] = 1
    if 255 in held:
        mapping[255] = 1
    return mapping


def _binary_split(decoded: list[_Scan]) -> tuple[list[_Scan], list[_Scan], bool, int]:
    """Binary masks, other masks, whether the set is binary, masks holding 255."""
    binary = [s for s in decoded if _is_binary(s.values)]
    others = [s for s in decoded if not _is_binary(s.values)]
    n = len(decoded)
    binary_set = n > 0 and (not others or (
        len(binary) >= _BINARY_SHARE * n and len(others) <= _OUTLIER_SHARE * n))
    return binary, others, binary_set, sum(1 for s in binary if 255 in s.values)


def _renumber_notice(distinct: list[int]) -> str:
    return (f"class ids {_fmt_values(distinct)} are not consecutive: mapped to "
            f"{_fmt_values(range(len(distinct)))} (the mapping is saved in the run's config.yaml)")


def _inferred(decoded: list[_Scan], report: CheckReport) -> dict[int, int]:
    """Rule 6: binary set or one class per distinct value; per-mask outlier problems."""
    if not decoded:
        return {}
    binary, others, binary_set, _ = _binary_split(decoded)
    if binary_set:
        mapping = _binary_mapping(binary)
        shown = "{0, 255}" if 1 not in mapping else "{0, 1}"
        report.notices.append("2 classes inferred from the masks (binary); pass --num-classes to override")
        for s in others:
            bad = [v for v in s.values.tolist() if v not in mapping]
            if bad:
                s.problems.append(f"{s.sample.mask}: values {_fmt_values(bad)} outside the classes {shown} of "
                                  f"the other {len(binary)} masks; fix the mask or pass --num-classes {max(bad) + 1}")
            else:  # holds both 1 and 255
                s.problems.append(f"{s.sample.mask}: holds both 1 and 255 as foreground, unlike "
                                  f"the other {len(binary)} masks; use one value for the foreground")
        return mapping
    _stray_values(decoded)
    distinct = sorted(set().union(*(s.values.tolist() for s in decoded)))
    consecutive = distinct == list(range(len(distinct)))
    shown = f"0..{distinct[-1]}" if consecutive else _fmt_values(distinct)
    report.notices.append(f"{len(distinct)} classes inferred from the masks (values {shown}); "
                          "pass --num-classes to override")
    if not consecutive:
        report.notices.append(_renumber_notice(distinct))
    return {v: i for i, v in enumerate(distinct)}


def _stray_values(decoded: list[_Scan]) -> None:
    """Rule 6: a problem for each mask holding a value too rare to be a class (a few pixels in the whole set)."""
    values, counts = _histogram(decoded)
    total = int(counts.sum())
    stray = {int(v): int(n) for v, n in zip(values, counts) if n <= _STRAY_PIXELS and n <= _STRAY_SHARE * total}
    if not stray or len(values) - len(stray) < 2:
        return
    for s in decoded:
        held = [v for v in s.values.tolist() if v in stray]
        if held:
            one, pixels = len(held) == 1, sum(stray[v] for v in held)
            s.problems.append(
                f"{s.sample.mask}: {'value' if one else 'values'} {_fmt_values(held)} on only "
                f"{plural(pixels, 'pixel')} of the whole dataset: a stray value, not a class; fix the mask "
                f"(or pass --num-classes {len(values)} if {'it is a class' if one else 'they are classes'})")


def _given(decoded: list[_Scan], num_classes: int, report: CheckReport, problems: list[str]) -> dict[int, int]:
    """Rule 5: values 0..num_classes-1 as they are, few others renumbered, too many a problem."""
    mapping = {i: i for i in range(num_classes)}
    if not decoded:
        return mapping
    _, _, binary_set, with_255 = _binary_split(decoded)
    if num_classes == 2 and binary_set and with_255:
        mapping[255] = 1
    distinct = sorted(set().union(*(s.values.tolist() for s in decoded)))
    if all(v in mapping for v in distinct):
        return mapping
    if len(distinct) <= num_classes:
        report.notices.append(_renumber_notice(distinct))
        return {v: i for i, v in enumerate(distinct)}
    example = next(s for s in decoded if any(v not in mapping for v in s.values.tolist()))
    held = [v for v in example.values.tolist() if v not in mapping]
    problems.append(
        f"{report.root / 'masks'}: the masks hold {len(distinct)} classes (values {_fmt_values(distinct)}) "
        f"but --num-classes is {num_classes}; pass --num-classes {len(distinct)} or fix the masks "
        f"(e.g. {example.sample.mask} holds {_fmt_values(held)})"
    )
    return mapping


def _snap_lossy(scans: list[_Scan], colour: bool, targets, report: CheckReport,
                problems: list[str]) -> dict[int, int] | None:
    """Rule 4: map lossy values to the class values in place; returns raw value -> class value.

    ``targets`` are the class values (from ``classes.json``), or None to find them in the
    histogram. Returns an empty dict when the masks do not look lossy, and None (after adding
    one problem) when they are JPEG files whose values cannot be mapped to class values.
    """
    if not scans:
        return {}
    values, counts = _histogram(scans)
    jpeg = any(s.jpeg for s in scans)
    if targets is None:
        targets = dominant_values(values, counts, colour, jpeg)
    targets = np.asarray(sorted(targets), dtype=np.int64)
    many = len(values) > max(_LOSSY_MIN_DISTINCT, _LOSSY_RATIO * len(targets))
    if not (jpeg or many):
        return {}
    snap = snap_values(values, counts, targets, colour, _JPEG_MAX_SHARE if jpeg else _LOSSY_MAX_SHARE, jpeg)
    if snap is None and jpeg and many:
        what = "colours" if colour else "values"
        problems.append(f"{report.root / 'masks'}: {sum(s.jpeg for s in scans)} JPEG masks hold {len(values)} "
                        f"distinct {what} that do not group around a few class {what}; save the masks as PNG "
                        "(JPEG compression changes the values)")
        return None
    if not snap:
        return {}
    keys = np.fromiter(snap, dtype=np.int64)
    lossy, moved, pixels = 0, 0, 0
    for s in scans:
        hit = np.isin(s.values, keys)
        if hit.any():
            lossy, moved, pixels = lossy + 1, moved + int(s.counts[hit].sum()), pixels + int(s.counts.sum())
            s.values, inverse = np.unique([snap.get(v, v) for v in s.values.tolist()], return_inverse=True)
            s.counts = np.bincount(inverse.ravel(), weights=s.counts).round().astype(np.int64)
    report.lossy_share = moved / pixels
    report.notices.append(
        f"{plural(lossy, 'mask')} look{'s' if lossy == 1 else ''} lossy (e.g. JPEG): {percent(report.lossy_share)} of their pixels hold values near the "
        f"class {'colours' if colour else 'values'} {format_values(targets, colour)} and were mapped to the "
        "nearest; save masks as PNG to keep them exact"
    )
    return snap


def _compose(mapping: dict[int, int], snap: dict[int, int] | None) -> dict[int, int]:
    """Raw value -> class index through the lossy map (raw -> class value) and ``mapping``."""
    out = dict(mapping)
    out.update({raw: mapping[value] for raw, value in (snap or {}).items() if value in mapping})
    return dict(sorted(out.items()))


def _format(mapping: dict[int, int], num_classes: int, snap: dict[int, int] | None) -> str:
    if snap:
        return "lossy"
    if num_classes == 2:
        return "binary 0/255" if mapping.get(255) == 1 else "binary"
    return "index"


def _colours(scans: list[_Scan], why: str, fix: str, report: CheckReport, problems: list[str]) -> np.ndarray:
    """Rule 2: one problem listing the colours of ``scans``; returns them in suggested class order."""
    values, counts = _histogram(scans)
    order = sorted(range(len(values)), key=lambda i: (values[i] != 0, -counts[i], values[i]))  # black first
    values, counts = values[order], counts[order]
    report.colours = [(list(unpack_rgb(v)), int(n)) for v, n in zip(values, counts)]
    total = max(int(counts.sum()), 1)
    shown = values[:_MAX_COLOURS]
    listed = ", ".join(f"{format_value(v, True)} {percent(n / total)}" for v, n in zip(shown, counts))
    example = json.dumps({f"class{i}": list(unpack_rgb(v)) for i, v in enumerate(shown)})
    if len(values) > len(shown):
        listed += f" and {len(values) - len(shown)} more"
        example = example[:-1] + ", ...}"
    n_coded = sum(s.colour_coded for s in scans)
    gray = len(scans) - n_coded
    also = f" (and {plural(gray, 'gray mask')}, read as (g, g, g))" if gray else ""
    problems.append(f"{report.root / 'masks'}: {plural(n_coded, 'colour-coded RGB mask')}{also} and {why}; "
                    f"found {plural(len(values), 'colour')} {listed}; {fix}, e.g. {example}")
    return values


def _colour_labels(decoded: list[_Scan], why: str, report: CheckReport, problems: list[str]) -> None:
    """Rule 2 without classes.json: report the colours, and map them as the suggested file would."""
    usable = []
    for s in decoded:
        if not s.colour:
            if int(s.values[-1]) > 255:
                s.problems.append(f"{s.sample.mask}: values up to {int(s.values[-1])} cannot be read as colours "
                                  "like the other, colour-coded masks; save all masks in one format")
                continue
            s.values, s.colour = s.values.astype(np.int64) * _GRAY_AS_COLOUR, True
        usable.append(s)
    snap = _snap_lossy(usable, True, None, report, problems)
    if snap is None:  # JPEG colours that cannot be told apart: that one problem says it
        report.colour_masks, report.mask_format = True, "colour"
        return
    colours = _colours(usable, why, f"write {report.root / CLASSES_FILE}", report, problems)
    mapping = {int(v): i for i, v in enumerate(colours)}
    report.num_classes, report.label_mapping = len(mapping), _compose(mapping, snap)
    report.colour_masks, report.mask_format = True, "colour"


def _file_labels(decoded: list[_Scan], classes: ClassFile, num_classes: int | None, report: CheckReport,
                 problems: list[str]) -> None:
    """Rule 1: the classes of classes.json; missing values or colours are problems."""
    n = len(classes.values)
    report.class_names, report.colour_masks, report.num_classes = list(classes.names), classes.colour, n
    if num_classes is not None and num_classes != n:
        problems.append(f"{classes.path}: lists {n} classes but --num-classes is {num_classes}; "
                        f"pass --num-classes {n} or leave it out")
    usable = decoded
    if not classes.colour:
        coded = [s for s in decoded if s.colour]
        if coded:
            _colours(coded, f"{classes.path} lists mask values, not colours",
                     f"list the colours in {classes.path} instead", report, problems)
            for s in coded:
                s.values = None  # not counted
            usable = [s for s in decoded if not s.colour]
    snap = _snap_lossy(usable, classes.colour, classes.values, report, problems)
    mapping = classes.mapping
    what = "colours" if classes.colour else "values"
    for s in usable if snap is not None else []:  # None: one problem for the JPEG masks says it
        unknown = [v for v in s.values.tolist() if v not in mapping]
        if unknown:
            s.problems.append(f"{s.sample.mask}: {what} {format_values(unknown, classes.colour)} not in "
                              f"{classes.path}; add them to {classes.path} or fix the mask")
    report.label_mapping = _compose(mapping, snap)
    report.mask_format = "lossy" if snap else "colour" if classes.colour else _format(mapping, n, snap)


def _instances(decoded: list[_Scan], report: CheckReport, problems: list[str]) -> bool:
    """Rule 3: one problem when the masks look like instance masks."""
    checked = [s for s in decoded if s.ids > _INSTANCE_MIN_IDS]
    if not checked or sum(s.single_ids for s in checked) < _INSTANCE_SINGLE * sum(s.ids for s in checked):
        return False
    if len(decoded) > 1 and len({tuple(s.values.tolist()) for s in decoded}) == 1:
        return False  # the same values in every mask: classes that happen to be one blob each
    per_mask = [int(np.count_nonzero(s.values)) for s in decoded]
    lo, hi = min(per_mask), max(per_mask)
    span = f"{hi}" if lo == hi else f"{lo} to {hi}"
    problems.append(
        f"{report.root / 'masks'}: the masks look like instance masks (one id per object: {span} ids per mask); "
        f"convert them with 'segtrain convert instances {report.root} OUT --to semantic' (or --to boundary to "
        "keep touching objects apart), or pass --num-classes if the ids are classes"
    )
    report.mask_format = "instance"
    return True


def _labels(scans: list[_Scan], num_classes: int | None, classes: ClassFile | None, bad_file: bool,
            report: CheckReport) -> list[str]:
    """Fill num_classes, label_mapping and the format; add per-mask problems to the scans.

    Returns the dataset-level label problems.
    """
    problems: list[str] = []
    decoded = []
    for s in scans:
        if s.values is None:
            continue
        if not s.colour and s.values[0] < 0:
            s.problems.append(f"{s.sample.mask}: negative values {_fmt_values(s.values[s.values < 0])}; "
                              "class indices start at 0, fix the mask")
        else:
            decoded.append(s)
    if classes is not None:
        _file_labels(decoded, classes, num_classes, report, problems)
        return problems
    if any(s.colour for s in decoded):
        path = report.root / CLASSES_FILE
        _colour_labels(decoded, f"an unusable {path}" if bad_file else f"no {path}", report, problems)
        return problems
    if num_classes is None and _instances(decoded, report, problems):
        return problems
    snap = _snap_lossy(decoded, False, None, report, problems)
    if snap is None:  # JPEG values that cannot be told apart: that one problem says it
        return problems
    if num_classes is None:
        mapping = _inferred(decoded, report)
        num_classes = len(set(mapping.values()))
    else:
        mapping = _given(decoded, num_classes, report, problems)
    if mapping.get(255) == 1:
        with_255 = sum(1 for s in decoded if _is_binary(s.values) and 255 in s.values)
        report.notices.append(f"{with_255} masks hold 0/255: read as 0/1")
    report.num_classes = num_classes
    report.label_mapping = _compose(mapping, snap)
    report.mask_format = _format(mapping, num_classes, snap)
    return problems


def _channel_problem(scans: list[_Scan], images_dir: Path) -> str | None:
    counts = Counter(s.channels for s in scans if s.channels is not None)
    if len(counts) < 2:
        return None
    ranked = counts.most_common()
    rarest = ranked[-1][0]
    example = next(s.sample.image for s in scans if s.channels == rarest)
    parts = ", ".join(f"{n} {_CHANNEL_NAMES.get(c, f'{c}-channel')}" for c, n in ranked)
    return (f"{images_dir}: mixed channel counts: {parts} (e.g. {example}); "
            "convert all images to one format")


def check_dataset(root: Path | str, num_classes: int | None = None) -> CheckReport:
    """Check every pair of a dataset folder, collecting all problems.

    Parameters
    ----------
    root : Path or str
        The folder that holds ``images/`` and ``masks/``.
    num_classes : int, optional
        Number of classes; inferred from the mask values (or ``classes.json``) when omitted.

    Returns
    -------
    CheckReport
        Problems, notices, inferred properties and per-class pixel counts.

    Raises
    ------
    UserError
        If the folder cannot be scanned at all (see
        :func:`~segtrain.data.discovery.discover`) or ``num_classes`` < 2.
    """
    if num_classes is not None and (isinstance(num_classes, bool) or int(num_classes) != num_classes
                                    or num_classes < 2):
        raise UserError(f"--num-classes {num_classes}: need a whole number of at least 2 "
                        "(background and one foreground class); pass --num-classes 2 or more")
    found = discover(root)
    report = CheckReport(root=found.root, n_pairs=len(found.samples),
                         problems=list(found.problems), notices=list(found.notices), samples=list(found.samples))
    from segtrain.data.multilabel import check_multilabel, is_multilabel

    if found.samples and is_multilabel(found.samples):
        if num_classes is not None:
            report.notices.append("--num-classes is ignored for multilabel masks: one output per label")
        check_multilabel(found.samples, report)
        return report
    classes, bad_file = None, False
    try:
        classes = read_class_file(found.root)
    except UserError as exc:
        report.problems.append(str(exc))
        bad_file = True
    scan = partial(_scan, colour=classes is not None and classes.colour)
    workers = min(8, os.cpu_count() or 1)
    if len(found.samples) >= 16 and workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:  # decoders release the GIL
            scans = list(pool.map(scan, found.samples))
    else:
        scans = [scan(s) for s in found.samples]

    label_problems = _labels(scans, None if num_classes is None else int(num_classes), classes, bad_file, report)
    for s in scans:
        report.problems.extend(s.problems)
        if s.size is not None:
            report.sizes[s.sample.stem] = (int(s.size[0]), int(s.size[1]))
    channel_problem = _channel_problem(scans, found.root / "images")
    report.problems.extend(label_problems)
    if channel_problem:
        report.problems.append(channel_problem)
    channels = {s.channels for s in scans if s.channels is not None}
    report.channels = channels.pop() if len(channels) == 1 else None
    windowed = sum(s.windowed for s in scans)
    if windowed:
        from segtrain.data.windows import window_bytes

        report.notices.append(f"{plural(windowed, 'image')} too large to hold in memory (a float32 copy over "
                              f"{window_bytes() / 2**20:.0f} MB): checked, trained on and scored by windows")
    depths = Counter(s.dtype for s in scans if s.dtype is not None)
    if len(depths) > 1:
        report.notices.append("images mix pixel types: " + ", ".join(f"{n} {d}" for d, n in depths.most_common()))

    pixels = np.zeros(report.num_classes, dtype=np.int64)
    valid = [s for s in scans if not s.problems and s.values is not None
             and all(v in report.label_mapping for v in s.values.tolist())]
    for s in valid:
        own = np.zeros(report.num_classes, dtype=np.int64)
        for value, count in zip(s.values.tolist(), s.counts.tolist()):
            own[report.label_mapping[value]] += count
        pixels += own
        report.class_pixels_per_image[s.sample.stem] = [int(n) for n in own]
    report.intensity = {s.sample.stem: s.intensity for s in scans if s.intensity is not None}
    report.class_pixels = [int(n) for n in pixels]
    empty = [c for c, n in enumerate(report.class_pixels) if n == 0]
    if valid and empty:
        which = f"class {empty[0]} has" if len(empty) == 1 else f"classes {_fmt_values(empty)} have"
        report.notices.append(f"{which} no pixels in any valid mask")
    return report


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
        raise ValueError(f"mask values {_fmt_values(missing)} are not in the label mapping")
    return out.astype(np.int64, copy=False)
