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
0. Ignored values (``ignore_index``, the ``"ignore"`` values of ``classes.json``) are taken out of every mask's
   values first, so they are never a class (see :mod:`segtrain.data.check.ignored`); pixels outside a region of
   interest are never counted.
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

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np

from segtrain.runtime.progress import largest_file, progress_bar, wanted
from segtrain.data.check.ignored import drop_ignored, ignored_notice, settle_ignored
from segtrain.data.check.report import CheckReport, summarise_repeats
from segtrain.data.check.rules import labels
from segtrain.data.check.scan import _Scan, _fmt_values, scan_whole
from segtrain.data.check.scan_large import scan_large
from segtrain.data.classes import read_class_file
from segtrain.data.discovery import discover
from segtrain.data.layouts import LayoutOptions
from segtrain.data.multilabel import check_multilabel, is_multilabel
from segtrain.data.windows import is_large, window_bytes
from segtrain._text import plural
from segtrain.errors import UserError

_CHANNEL_NAMES = {1: "gray", 3: "RGB"}


def _scan(sample, colour: bool = False) -> _Scan:
    """One pair: read whole, or by strips when the image is too large for memory."""
    return scan_large(sample, colour) if is_large(sample.image) else scan_whole(sample, colour)


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


def check_dataset(root: Path | str, num_classes: int | None = None, ignore_index: int | None = None,
                  layout: LayoutOptions | None = None) -> CheckReport:
    """Check every pair of a dataset folder, collecting all problems.

    Parameters
    ----------
    root, layout : Path or str, LayoutOptions
        The dataset folder and where its files are, as :func:`~segtrain.data.discovery.discover` takes them.
    num_classes : int, optional
        Number of classes; inferred from the mask values (or ``classes.json``) when omitted.
    ignore_index : int, optional
        A raw mask value that is no class (``--ignore-index``): its pixels are ignored (mapped to
        :data:`~segtrain.data.label_mapping.IGNORE_LABEL`), as are the ``"ignore"`` values of ``classes.json``
        and pixels outside regions of interest (see :mod:`segtrain.data.check.ignored`).

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
    found = discover(root, layout)
    report = CheckReport.of(found)
    if found.samples and is_multilabel(found.samples):
        if num_classes is not None:
            report.notices.append("--num-classes is ignored for multilabel masks: one output per label")
        check_multilabel(found.samples, report)
        report.problems = summarise_repeats(report.problems)
        return report
    classes, bad_file = None, False
    try:
        classes = read_class_file(found.root)
    except UserError as exc:
        report.problems.append(str(exc))
        bad_file = True
    scan = partial(_scan, colour=classes is not None and classes.colour)
    workers = min(8, os.cpu_count() or 1)
    show = wanted(len(found.samples), largest_file(s.image for s in found.samples))  # a bar on a terminal only
    with progress_bar("checking", len(found.samples), show) as advance:
        if len(found.samples) >= 16 and workers > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:  # decoders release the GIL
                scans = [(result, advance())[0] for result in pool.map(scan, found.samples)]
        else:
            scans = [(scan(s), advance())[0] for s in found.samples]

    ignored = drop_ignored(scans, classes, ignore_index)
    label_problems = labels(scans, None if num_classes is None else int(num_classes), classes, bad_file, report)
    settle_ignored(scans, classes, ignored, report)
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
        report.notices.append(f"{plural(windowed, 'image')} too large to hold in memory (a float32 copy over "
                              f"{window_bytes() / 2**20:.0f} MB): checked, trained on and scored by windows")
    depths = Counter(s.dtype for s in scans if s.dtype is not None)
    if len(depths) > 1:
        report.notices.append("images mix pixel types: " + ", ".join(f"{n} {d}" for d, n in depths.most_common()))

    _count_class_pixels(scans, report)
    ignored_notice([s for s in scans if not s.problems], report, ignored)
    report.problems = summarise_repeats(report.problems)
    return report



def _count_class_pixels(scans: list[_Scan], report: CheckReport) -> None:
    """Pixels per class over the pairs without a problem, per image and in all (``report.class_pixels``)."""
    pixels = np.zeros(report.num_classes, dtype=np.int64)
    valid = [s for s in scans if not s.problems and s.values is not None
             and all(v in report.label_mapping for v in s.values.tolist())]
    for s in valid:
        own = np.zeros(report.num_classes, dtype=np.int64)
        for value, count in zip(s.values.tolist(), s.counts.tolist()):
            if report.label_mapping[value] < report.num_classes:  # not IGNORE_LABEL (never a class)
                own[report.label_mapping[value]] += count
        pixels += own
        report.class_pixels_per_image[s.sample.stem] = [int(n) for n in own]
    report.intensity = {s.sample.stem: s.intensity for s in scans if s.intensity is not None}
    report.class_pixels = [int(n) for n in pixels]
    empty = [c for c, n in enumerate(report.class_pixels) if n == 0]
    if valid and empty:
        which = f"class {empty[0]} has" if len(empty) == 1 else f"classes {_fmt_values(empty)} have"
        report.notices.append(f"{which} no pixels in any valid mask")
