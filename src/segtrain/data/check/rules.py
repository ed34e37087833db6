"""The label rulebook of the data check: how raw mask values become class indices (rules 1-6 of
:mod:`segtrain.data.check.dataset`), and the problems and notices each rule reports."""

from __future__ import annotations

import json

import numpy as np

from segtrain.data.check.report import CheckReport
from segtrain.data.check.scan import _INSTANCE_MIN_IDS, _Scan, _fmt_values, _histogram
from segtrain.data.classes import (
    CLASSES_FILE, ClassFile, dominant_values, format_value, format_values, snap_values,
)
from segtrain.data.readers import unpack_rgb
from segtrain._text import percent, plural

_BINARY_SHARE = 0.75  # at least this share of binary masks ...
_OUTLIER_SHARE = 0.10  # ... and at most this share of others: a binary set with bad masks
_INSTANCE_SINGLE = 0.9  # ... and holds instances when this share of its ids are one solid blob each
_LOSSY_MIN_DISTINCT = 8  # more distinct values than this ...
_LOSSY_RATIO = 2  # ... and more than this many per class value suggest lossy values (PNG masks)
_LOSSY_MAX_SHARE = 0.05  # pixels off the class values allowed, PNG: protects rare real classes
_JPEG_MAX_SHARE = 0.25  # ... JPEG: edge ringing covers 10-20% of small masks with many objects at quality 75
_GRAY_AS_COLOUR = 65793  # gray g as the packed colour (g, g, g)
_MAX_COLOURS = 12  # colours listed in the colour-mask problem
_STRAY_PIXELS = 4  # an inferred class value on at most this many pixels ...
_STRAY_SHARE = 1e-3  # ... and at most this share of all mask pixels is a stray value (a slip), not a learnable class


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
    n = len(classes.names)
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


def labels(scans: list[_Scan], num_classes: int | None, classes: ClassFile | None, bad_file: bool,
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


