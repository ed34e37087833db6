"""Ignored pixels in the data check: raw values that are no class, and pixels outside regions of interest.

An ignored value is a raw mask value as the files hold it: ``--ignore-index V`` (``data.ignore_index``) and the
``"ignore"`` values of a ``classes.json`` label map (:mod:`segtrain.data.classes`). :func:`drop_ignored` takes
their pixels out of every scan before the label rules run, so an ignored value is never a class (a 0/255 mask
with ``--ignore-index 255`` is not read as binary 0/1, 255 is not counted among the classes); :func:`map_ignored`
then maps each of them to :data:`~segtrain.data.label_mapping.IGNORE_LABEL`. Pixels outside a region of interest
were left out of the scan's counts already (:func:`~segtrain.data.check.scan.scan_whole`).

:func:`propose_ignore` names a value that looks like one to ignore when none is given: one named like
"void" in ``classes.json``, or 255 beside small class indices (VOC's border); and prints a ready
``classes.json`` for colours or ids it cannot name (``check`` writes nothing into the dataset folder).
"""

from __future__ import annotations

import json

import numpy as np

from segtrain.data.check.report import CheckReport
from segtrain.data.check.scan import _Scan
from segtrain.data.classes import CLASSES_FILE, ClassFile, format_value
from segtrain.data.label_mapping import IGNORE_LABEL
from segtrain._text import percent

IGNORE_NAMES = ("void", "ignore", "ignored", "unlabelled", "unlabeled", "dontcare", "don't care", "border")
"""Class names of ``classes.json`` that suggest a value to ignore."""


def drop_ignored(scans: list[_Scan], classes: ClassFile | None, ignore_index: int | None) -> set[int]:
    """Take the pixels of the ignored raw values (``ignore_index`` and the ``"ignore"`` values of ``classes``) out of
    each scan's ``values``/``counts`` (into ``ignored``); returns those values. A mask holding nothing else is a
    problem of its own."""
    values = set(classes.ignore if classes is not None else ()) | ({int(ignore_index)} if ignore_index is not None
                                                                   else set())
    if not values:
        return values
    wanted = np.array(sorted(values), dtype=np.int64)
    for s in scans:
        if s.values is None:
            continue
        hit = np.isin(s.values.astype(np.int64), wanted)
        if not hit.any():
            continue
        s.ignored += int(s.counts[hit].sum())
        if hit.all():
            s.problems.append(f"{s.sample.mask}: every pixel holds an ignored value "
                              f"({', '.join(format_value(v, s.colour) for v in s.values[hit])}); "
                              "label the image or remove it")
            s.values = s.counts = None
            continue
        s.values, s.counts = s.values[~hit], s.counts[~hit]
    return values


def settle_ignored(scans: list[_Scan], classes: ClassFile | None, values: set[int], report: CheckReport) -> None:
    """After the label rules: map the ignored ``values`` (:func:`map_ignored`), or propose one when there are
    none (:func:`propose_ignore`); and a ready ``classes.json`` for colours found without one."""
    map_ignored(report, values)
    if not values:
        propose_ignore(scans, classes, report)
    report.proposed_classes = classes_json_proposal(report) if classes is None else None


def map_ignored(report: CheckReport, values: set[int]) -> None:
    """Map each ignored raw value to :data:`IGNORE_LABEL` (a problem when the classes leave no room for it)."""
    if not values or not report.label_mapping:
        return
    if report.num_classes > IGNORE_LABEL:
        report.problems.append(f"{report.root}: {report.num_classes} classes leave no label for ignored pixels "
                               f"(at most {IGNORE_LABEL} classes with --ignore-index or ignore values); drop the "
                               "ignore value or merge classes")
        return
    for value in values:
        report.label_mapping[int(value)] = IGNORE_LABEL


def ignored_notice(scans: list[_Scan], report: CheckReport, values: set[int]) -> None:
    """One notice: the share of pixels ignored, and why (the values, the regions of interest)."""
    ignored = sum(s.ignored for s in scans if s.counts is not None)
    total = ignored + sum(int(s.counts.sum()) for s in scans if s.counts is not None)
    report.ignored_pixels = int(ignored)
    report.ignored_per_image = {s.sample.stem: int(s.ignored) for s in scans if s.counts is not None}
    roi = any(s.sample.roi is not None for s in scans)
    if not values and not roi:
        return
    why = []
    if values:
        shown = ", ".join(format_value(v, report.colour_masks) for v in sorted(values))
        why.append(f"value{'s' if len(values) > 1 else ''} {shown} (not a class; left out of the loss and the scores, "
                   "never predicted)")
    if roi:
        why.append("pixels outside the region of interest are ignored")
    report.notices.append(f"{percent(ignored / total) if total else '0%'} of pixels ignored: " + "; ".join(why))


def propose_ignore(scans: list[_Scan], classes: ClassFile | None, report: CheckReport) -> None:
    """Notices proposing ``--ignore-index`` where the data suggest a value to ignore (none was given)."""
    if classes is not None:
        for name, value in zip(classes.names, classes.values):
            if name.strip().lower() in IGNORE_NAMES and not classes.colour:
                report.notices.append(f'{classes.path} names value {value} "{name}": if it marks pixels to ignore, '
                                      f"pass --ignore-index {value} (or list it under \"ignore\" in {CLASSES_FILE})")
        return
    seen = [s.values for s in scans if s.values is not None and not s.colour]
    if not seen:
        return
    values = np.unique(np.concatenate(seen))
    others = values[values != 255]
    if 255 in values and others.size >= 2 and others.max() < 64:
        report.notices.append(f"masks hold 255 beside classes {', '.join(str(int(v)) for v in others[:6])}"
                              f"{', ...' if others.size > 6 else ''} (like VOC's border): if it marks pixels to "
                              "ignore, pass --ignore-index 255")


VOC_NAMES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
             "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")
VOC_BORDER = (224, 224, 192)
"""The colour of VOC's border (palette index 255), ignored in its benchmark."""


def voc_colour(index: int) -> tuple[int, int, int]:
    """The colour of palette index ``index`` in the PASCAL VOC palette (its bit-interleaving rule)."""
    r = g = b = 0
    for shift in range(7, -1, -1):
        r |= ((index >> 0) & 1) << shift
        g |= ((index >> 1) & 1) << shift
        b |= ((index >> 2) & 1) << shift
        index >>= 3
    return r, g, b


def classes_json_proposal(report: CheckReport) -> str | None:
    """A ready ``classes.json`` text for colour-coded masks found without one (``check`` prints it; nothing is
    written into the dataset folder). VOC's colours get VOC's class names and its border goes under ``"ignore"``."""
    if not report.colours:
        return None
    voc = {voc_colour(k): name for k, name in enumerate(VOC_NAMES)}
    colours = [tuple(int(c) for c in rgb) for rgb, _ in report.colours]
    if all(c in voc or c == VOC_BORDER for c in colours):
        classes = {voc[c]: list(c) for c in sorted(voc, key=lambda c: VOC_NAMES.index(voc[c])) if c in colours}
        ignore = [list(VOC_BORDER)] if VOC_BORDER in colours else []
        return json.dumps({"classes": classes, "ignore": ignore} if ignore else classes)
    return json.dumps({("background" if k == 0 and c == (0, 0, 0) else f"class{k}"): list(c)
                       for k, c in enumerate(colours)})
