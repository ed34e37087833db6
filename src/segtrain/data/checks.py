"""Check a whole dataset folder in one pass and infer its classes.

:func:`check_dataset` decodes every image and mask once, collects every problem
(never stopping at the first) as one line ``<path>: <what is wrong>; <the fix>``,
and works out how raw mask values map to class indices:

* with ``num_classes`` given, values outside ``0..num_classes-1`` are problems
  (after reading 0/255 as 0/1 when ``num_classes`` is 2 and the masks are 0/255);
* otherwise a set whose masks all hold only {0, 1} or only {0, 255} is binary
  (255 read as 1); a set where at least 75% of the masks are binary and at most
  10% are not is binary too, each non-binary mask being a problem; anything else
  is multiclass with ``max value + 1`` classes and the identity mapping.

Nothing on disk is written or modified.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segtrain.data.discovery import Sample, discover
from segtrain.data.readers import ReadError, read_image, read_mask
from segtrain.errors import UserError

_CHANNEL_NAMES = {1: "gray", 3: "RGB"}
_BINARY_SHARE = 0.75  # at least this share of binary masks ...
_OUTLIER_SHARE = 0.10  # ... and at most this share of others: a binary set with bad masks


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
        Informational lines (inferred classes, 0/255 masks, lossy masks ...).
    channels : int or None
        Channel count shared by all images (1 or 3); None if mixed or unknown.
    num_classes : int
        Number of classes, given or inferred (0 if no mask could be read).
    label_mapping : dict of int to int
        Raw mask value -> class index, e.g. ``{0: 0, 255: 1}``.
    sizes : dict of str to (int, int)
        Stem -> image (H, W), for every pair whose image could be read.
    class_pixels : list of int
        Pixels per class over the masks of the pairs without any problem.
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
        }


@dataclass
class _Scan:
    """What one pass over a pair learned."""

    sample: Sample
    problems: list[str] = field(default_factory=list)
    size: tuple[int, int] | None = None
    channels: int | None = None
    dtype: str | None = None
    values: np.ndarray | None = None  # distinct mask values, sorted
    counts: np.ndarray | None = None  # pixels per value
    intensity: tuple[float, float, float, float] | None = None  # mean, std, min, max


def _fmt_values(values) -> str:
    values = [int(v) for v in values]
    if len(values) <= 8:
        return ", ".join(map(str, values))
    return ", ".join(map(str, values[:6])) + f", ..., {values[-1]} ({len(values)} values)"


def _value_counts(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if mask.dtype in (np.uint8, np.uint16):
        counts = np.bincount(mask.ravel())
        values = np.flatnonzero(counts)
        return values, counts[values]
    return np.unique(mask, return_counts=True)


def _scan(sample: Sample) -> _Scan:
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
    try:
        mask = read_mask(sample.mask)
    except ReadError as exc:
        scan.problems.append(str(exc))
        return scan
    if scan.size is not None and mask.shape != scan.size:
        (mh, mw), (ih, iw) = mask.shape, scan.size
        scan.problems.append(
            f"{sample.mask}: size {mh}x{mw} (HxW) differs from its image {sample.image} "
            f"({ih}x{iw}); resize or re-export the mask"
        )
    scan.values, scan.counts = _value_counts(mask)
    return scan


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


def _labels(scans: list[_Scan], num_classes: int | None, report: CheckReport) -> None:
    """Fill num_classes and label_mapping; add label problems to the scans."""
    decoded = []
    for s in scans:
        if s.values is None:
            continue
        if s.values[0] < 0:
            s.problems.append(f"{s.sample.mask}: negative values {_fmt_values(s.values[s.values < 0])}; "
                              "class indices start at 0, fix the mask")
        else:
            decoded.append(s)
    binary = [s for s in decoded if _is_binary(s.values)]
    others = [s for s in decoded if not _is_binary(s.values)]
    n = len(decoded)
    binary_set = n > 0 and (not others or (
        len(binary) >= _BINARY_SHARE * n and len(others) <= _OUTLIER_SHARE * n))
    with_255 = sum(1 for s in binary if 255 in s.values)

    given = num_classes is not None
    if given:
        mapping = {i: i for i in range(num_classes)}
        if num_classes == 2 and binary_set and with_255:
            mapping[255] = 1
        also = ", 255 read as 1" if num_classes == 2 and 255 in mapping else ""
        where = f"the {num_classes} classes (0..{num_classes - 1}{also})"
        outliers = decoded
    elif not decoded:
        mapping, where, outliers = {}, "", []
    elif binary_set:
        num_classes, mapping, outliers = 2, _binary_mapping(binary), others
        shown = "{0, 255}" if 1 not in mapping else "{0, 1}"
        where = f"the classes {shown} of the other {len(binary)} masks"
        report.notices.append("2 classes inferred from the masks (binary); pass --num-classes to override")
    else:
        top = max(int(s.values[-1]) for s in decoded)
        num_classes, mapping, outliers, where = top + 1, {i: i for i in range(top + 1)}, [], ""
        report.notices.append(f"{num_classes} classes inferred from the masks (values 0..{top}); "
                              "pass --num-classes to override")
    if mapping.get(255) == 1:
        report.notices.append(f"{with_255} masks hold 0/255: read as 0/1")

    for s in outliers:
        bad = [v for v in s.values.tolist() if v not in mapping]
        if bad:
            s.problems.append(f"{s.sample.mask}: values {_fmt_values(bad)} outside {where}; "
                              f"fix the mask or pass --num-classes {max(bad) + 1}")
        elif not given:  # a non-binary mask of a binary set holding both 1 and 255
            s.problems.append(f"{s.sample.mask}: holds both 1 and 255 as foreground, unlike "
                              f"the other {len(binary)} masks; use one value for the foreground")
    report.num_classes = num_classes or 0
    report.label_mapping = mapping


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
        Number of classes; inferred from the mask values when omitted.

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
    workers = min(8, os.cpu_count() or 1)
    if len(found.samples) >= 16 and workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:  # decoders release the GIL
            scans = list(pool.map(_scan, found.samples))
    else:
        scans = [_scan(s) for s in found.samples]

    _labels(scans, None if num_classes is None else int(num_classes), report)
    for s in scans:
        report.problems.extend(s.problems)
        if s.size is not None:
            report.sizes[s.sample.stem] = (int(s.size[0]), int(s.size[1]))
    channel_problem = _channel_problem(scans, found.root / "images")
    if channel_problem:
        report.problems.append(channel_problem)
    channels = {s.channels for s in scans if s.channels is not None}
    report.channels = channels.pop() if len(channels) == 1 else None
    depths = Counter(s.dtype for s in scans if s.dtype is not None)
    if len(depths) > 1:
        report.notices.append("images mix pixel types: " + ", ".join(f"{n} {d}" for d, n in depths.most_common()))

    pixels = np.zeros(report.num_classes, dtype=np.int64)
    valid = [s for s in scans if not s.problems and s.values is not None]
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
    if hi - lo < (1 << 24):
        lut = np.full(hi - lo + 1, fill, dtype=np.int64)
        known = np.zeros(hi - lo + 1, dtype=bool)
        lut[keys - lo], known[keys - lo] = vals, True
        index = mask if lo == 0 and mask.dtype.kind != "b" else mask.astype(np.int64) - lo
        out, hit = lut[index], known[index]
    else:  # sparse huge range: binary search over the sorted keys
        order = np.argsort(keys)
        keys, vals = keys[order], vals[order]
        pos = np.clip(np.searchsorted(keys, mask), 0, len(keys) - 1)
        hit = keys[pos] == mask
        out = np.where(hit, vals[pos], fill)
    if default is None and not hit.all():
        missing = np.unique(mask[~hit])
        raise ValueError(f"mask values {_fmt_values(missing)} are not in the label mapping")
    return out.astype(np.int64, copy=False)
